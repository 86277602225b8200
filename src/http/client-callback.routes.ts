/**
 * A client's status callback URL over the admin API (the CLI has `mb client callback`):
 *
 *   PUT /api/v1/admin/clients/:name/status-callback  {domain?, url: "https://…" | null}
 *     → 200 {client: {name, domain, common_name, status_callback_url}}
 *
 * `null` takes the client back to its domain's default (`domains[].status_callback.url`).
 * Callbacks are signed with the domain's `status_callback.secret`: a domain without one
 * cannot have callbacks (422), and a domain's own admin may name only the hosts the domain's
 * `status_callback` names (its url's, its `allowed_hosts`; 422 otherwise). Every broker's delivery actor picks the change up within
 * `events.callback_refresh_ms`. Same guard and scoping as the client status routes.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { BrokerError } from '../errors.js';
import {
  callbackHost,
  callbackUrlProblem,
  MAX_CALLBACK_URL_LENGTH,
  tenantCallbackHostProblem,
} from '../events/callback-url.js';
import { type AdminScope, documented, scopedDomain } from './admin-scope.js';
import { clientParams } from './ca-admin.schemas.js';
import type { ClientAdminDeps } from './client-admin.routes.js';

const callbackBody = {
  type: 'object',
  additionalProperties: false,
  required: ['url'],
  properties: {
    domain: { type: 'string', minLength: 1, maxLength: 253 },
    url: {
      anyOf: [{ type: 'string', pattern: '^https://[^\\s]+$', maxLength: MAX_CALLBACK_URL_LENGTH }, { type: 'null' }],
      description: 'HTTPS URL the client’s status events are POSTed to; null = the domain default',
    },
  },
} as const;

const callbackReply = {
  type: 'object',
  required: ['client'],
  properties: {
    client: {
      type: 'object',
      required: ['name', 'domain', 'common_name', 'status_callback_url'],
      properties: {
        name: { type: 'string' },
        domain: { type: 'string' },
        common_name: { type: 'string' },
        status_callback_url: { type: ['string', 'null'] },
      },
    },
  },
} as const;

export function registerStatusCallbackRoute(
  app: FastifyInstance,
  deps: ClientAdminDeps,
  scopeOf: (request: FastifyRequest) => AdminScope,
): void {
  app.put<{ Params: { name: string }; Body: { domain?: string; url: string | null } }>(
    '/api/v1/admin/clients/:name/status-callback',
    {
      schema: {
        ...documented(
          "Set a client's status callback URL",
          'Each status event of the client’s messages is POSTed there, signed with the domain’s status_callback.secret (Standard Webhooks headers, webhook-id = client_id:event_id), with retries and dead letters. null = the domain default. Audited.',
          { 200: callbackReply },
        ),
        params: clientParams,
        body: callbackBody,
      },
    },
    async (request) => {
      const scope = scopeOf(request);
      const domain = scopedDomain(scope, request.body.domain, true);
      const client = await deps.clients.findByNameAndDomain(request.params.name, domain);
      if (!client) throw new BrokerError('NOT_FOUND', `There is no client ${request.params.name}.${domain}`);
      const { url } = request.body;
      const problem = url === null ? undefined : callbackUrlProblem(url);
      if (problem) {
        const message = `url ${problem}`;
        throw new BrokerError('INVALID_PAYLOAD', message, [{ field: 'url', rule: 'https_url', message }]);
      }
      const callback = deps.domainCallback(domain);
      if (url !== null && !callback?.secret)
        throw new BrokerError(
          'INVALID_PAYLOAD',
          `Domain ${domain} has no status_callback.secret to sign callbacks with`,
        );
      const elsewhere = url === null || scope.domain === null ? undefined : tenantCallbackHostProblem(callback!, url);
      if (elsewhere) {
        const message = `url ${elsewhere}`;
        throw new BrokerError('INVALID_PAYLOAD', message, [{ field: 'url', rule: 'allowed_hosts', message }]);
      }
      await deps.clients.setStatusCallback(client.id, url);
      await deps.audit.record({
        actor: scope.actor,
        action: 'client.status_callback',
        target_type: 'client',
        target_id: String(client.id),
        domain: client.domain,
        ip: request.ip,
        // The host only: a URL's path or query may carry a token of the receiver's.
        details: { name: client.name, host: url === null ? null : callbackHost(url) },
      });
      const commonName = `${client.name}.${client.domain}`;
      return {
        client: { name: client.name, domain: client.domain, common_name: commonName, status_callback_url: url },
      };
    },
  );
}
