/**
 * Disabling and enabling a client over the admin API, the way the portal and `mb client
 * disable|enable` do it (src/clients/client-status.service.ts): the status is written to
 * MySQL, this broker refuses and closes the client's open connections at once, and every
 * other broker sharing the Redis is told on `events:client-status` and does the same.
 * The client's certificates stay valid; enabling lets them in again.
 *
 *   POST /api/v1/admin/clients/:name/disable   {domain?}  → 200 {client, announced}
 *   POST /api/v1/admin/clients/:name/enable    {domain?}  → 200 {client, announced}
 *
 * Registered inside the admin API plugin (src/http/ca-admin.routes.ts), behind its
 * `authorize` hook (a portal admin's session, same-origin, JSON only). A domain admin acts
 * in their domain only: naming another is 403, a client that is not in theirs is 404.
 * A superadmin names the domain.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ClientStatusService } from '../clients/client-status.service.js';
import type { AuditRepository } from '../db/audit.repository.js';
import type { ClientsRepository } from '../db/clients.repository.js';
import { BrokerError } from '../errors.js';
import type { DomainCallbackHosts } from '../events/callback-url.js';
import { type AdminScope, documented, scopedDomain } from './admin-scope.js';
import { type ClientStatusBody, clientParams, clientStatusBody, clientStatusReply } from './ca-admin.schemas.js';

export interface ClientAdminDeps {
  clients: Pick<ClientsRepository, 'findByNameAndDomain' | 'setStatusCallback'>;
  /**
   * The domain's `status_callback` in force (undefined: no such domain): callbacks are
   * signed with its secret, and a domain's own admin may point them only at its hosts.
   */
  domainCallback: (domain: string) => (DomainCallbackHosts & { secret: string }) | undefined;
  /** The broker's one ClientStatusService (the portal's). */
  status: Pick<ClientStatusService, 'set'>;
  audit: Pick<AuditRepository, 'record'>;
}

export function registerClientStatusRoutes(
  app: FastifyInstance,
  deps: ClientAdminDeps,
  scopeOf: (request: FastifyRequest) => AdminScope,
): void {
  for (const [verb, status, summary, description] of [
    [
      'disable',
      'disabled',
      'Disable a client',
      'Every broker sharing the Redis refuses the client at once (403 CLIENT_DISABLED), open keep-alive connections included, and closes them; its certificates stay valid.',
    ],
    [
      'enable',
      'active',
      'Enable a disabled client',
      'Every broker sharing the Redis accepts the client again at once.',
    ],
  ] as const) {
    app.post<{ Params: { name: string }; Body: ClientStatusBody }>(
      `/api/v1/admin/clients/:name/${verb}`,
      {
        schema: {
          ...documented(
            summary,
            `${description} A domain admin acts in their domain (domain may be left out); a superadmin names it. Audited.`,
            { 200: clientStatusReply },
          ),
          params: clientParams,
          body: clientStatusBody,
        },
      },
      async (request) => {
        const scope = scopeOf(request);
        const domain = scopedDomain(scope, request.body.domain, true);
        const client = await deps.clients.findByNameAndDomain(request.params.name, domain);
        if (!client) throw new BrokerError('NOT_FOUND', `There is no client ${request.params.name}.${domain}`);
        const { announced } = await deps.status.set(client, status);
        const commonName = `${client.name}.${client.domain}`;
        if (!announced)
          request.log.warn(
            { client: commonName },
            'the other brokers could not be told of the client status (Redis unreachable)',
          );
        await deps.audit.record({
          actor: scope.actor,
          action: `client.${verb}`,
          target_type: 'client',
          target_id: String(client.id),
          domain: client.domain,
          ip: request.ip,
          details: { name: client.name, announced },
        });
        return { client: { name: client.name, domain: client.domain, common_name: commonName, status }, announced };
      },
    );
  }
}
