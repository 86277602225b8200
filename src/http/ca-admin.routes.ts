/**
 * Certificate administration over HTTP, for the admin portal: list, issue (the private
 * key is in the answer, once), renew, revoke. The work happens in the CA actor; these
 * routes only check who may do what in which domain.
 *
 * The plugin brings no authentication of its own: the caller passes `authorize` (the
 * portal's session check, run before every route here) and `scope` (who the caller is,
 * for the audit log, and which domain they administer; null = every domain). A domain
 * admin naming another domain gets 403 FORBIDDEN; a serial of another domain reads as
 * 404 so that nothing about other domains leaks.
 *
 *   GET  /api/v1/admin/certificates[?domain=&status=&expiring=true]
 *   POST /api/v1/admin/clients                          {name, domain?, days?}  → 201 bundle
 *   POST /api/v1/admin/clients/:name/renew              {domain?, days?}        → 201 bundle + overlaps, superseded
 *   POST /api/v1/admin/clients/:name/revoke             {reason, domain?}       → every active certificate
 *   POST /api/v1/admin/certificates/:serial/revoke      {reason}
 *   GET  /api/v1/admin/crl                               CRL number, dates, revoked serials, PEM
 *   POST /api/v1/admin/clients/:name/disable|enable      {domain?}  (client-admin.routes.ts)
 */
import type { FastifyPluginAsync, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import type { CaProtocol } from '../actors/ca/ca.protocol.js';
import { type AdminScope, documented, scopedDomain } from './admin-scope.js';
import { type ClientAdminDeps, registerClientStatusRoutes } from './client-admin.routes.js';
import { registerStatusCallbackRoute } from './client-callback.routes.js';
import {
  clientParams,
  issueClientBody,
  issuedBundleResponse,
  listCertificatesQuery,
  renewClientBody,
  renewedBundleResponse,
  revokeBody,
  serialParams,
  type IssueClientBody,
  type ListCertificatesQuery,
  type RenewClientBody,
  type RevokeBody,
} from './ca-admin.schemas.js';

export type { AdminScope };

/** The CA actor's RPC peer, or anything that answers its protocol the same way. */
export interface CaRpc {
  call<K extends keyof CaProtocol & string>(
    type: K,
    payload: CaProtocol[K]['request'],
  ): Promise<CaProtocol[K]['response']>;
}

export interface CaAdminRouteDeps {
  ca: CaRpc;
  /** Refuses whoever is not an authenticated admin (throw a BrokerError, e.g. UNAUTHORIZED / FORBIDDEN). */
  authorize: preHandlerAsyncHookHandler;
  /** The authorized caller; called after `authorize`. */
  scope: (request: FastifyRequest) => AdminScope;
  /** Client disable/enable (src/http/client-admin.routes.ts). */
  clients: ClientAdminDeps;
}

export const caAdminRoutes: FastifyPluginAsync<CaAdminRouteDeps> = async (app, deps) => {
  app.addHook('preHandler', deps.authorize);
  // Answers carry private keys and registry data: never cache them anywhere.
  app.addHook('onSend', async (_request, reply) => void reply.header('cache-control', 'no-store'));

  app.get<{ Querystring: ListCertificatesQuery }>(
    '/api/v1/admin/certificates',
    {
      schema: {
        ...documented('List client certificates', 'A domain admin sees their domain only.'),
        querystring: listCertificatesQuery,
      },
    },
    async (request) => {
      const scope = deps.scope(request);
      const domain = scopedDomain(scope, request.query.domain, false);
      const { certificates } = await deps.ca.call('ca.list', domain === undefined ? {} : { domain });
      const { status, expiring } = request.query;
      return {
        certificates: certificates.filter(
          (c) => (status === undefined || c.status === status) && (expiring !== 'true' || c.expiring),
        ),
      };
    },
  );

  app.post<{ Body: IssueClientBody }>(
    '/api/v1/admin/clients',
    {
      schema: {
        ...documented(
          'Issue a client certificate',
          '201 with the bundle: certificate, CA and the private key, shown this once.',
          { 201: issuedBundleResponse },
        ),
        body: issueClientBody,
      },
    },
    async (request, reply) => {
      const scope = deps.scope(request);
      const { name, days } = request.body;
      const domain = scopedDomain(scope, request.body.domain, true);
      const bundle = await deps.ca.call('ca.issue', {
        name,
        domain,
        actor: scope.actor,
        ip: request.ip,
        scoped: scope.domain !== null,
        ...(days === undefined ? {} : { days }),
      });
      return reply.code(201).send(bundle);
    },
  );

  app.post<{ Params: { name: string }; Body: RenewClientBody }>(
    '/api/v1/admin/clients/:name/renew',
    {
      schema: {
        ...documented(
          'Renew a client certificate',
          '201 with the new bundle. The newest certificate before it stays valid until it expires or is revoked (overlap); older active ones are revoked as superseded, open connections included.',
          { 201: renewedBundleResponse },
        ),
        params: clientParams,
        body: renewClientBody,
      },
    },
    async (request, reply) => {
      const scope = deps.scope(request);
      const domain = scopedDomain(scope, request.body.domain, true);
      const { days } = request.body;
      const bundle = await deps.ca.call('ca.renew', {
        name: request.params.name,
        domain,
        actor: scope.actor,
        ip: request.ip,
        scoped: scope.domain !== null,
        ...(days === undefined ? {} : { days }),
      });
      return reply.code(201).send(bundle);
    },
  );

  app.post<{ Params: { name: string }; Body: RevokeBody }>(
    '/api/v1/admin/clients/:name/revoke',
    {
      schema: {
        ...documented(
          'Revoke every active certificate of a client',
          'Takes effect on the next request, open connections included.',
        ),
        params: clientParams,
        body: revokeBody,
      },
    },
    async (request) => {
      const scope = deps.scope(request);
      const domain = scopedDomain(scope, request.body.domain, true);
      return deps.ca.call('ca.revoke', {
        name: request.params.name,
        domain,
        reason: request.body.reason,
        actor: scope.actor,
        ip: request.ip,
      });
    },
  );

  app.post<{ Params: { serial: string }; Body: RevokeBody }>(
    '/api/v1/admin/certificates/:serial/revoke',
    {
      schema: {
        ...documented('Revoke one certificate by serial'),
        params: serialParams,
        body: revokeBody,
      },
    },
    async (request) => {
      const scope = deps.scope(request);
      const domain = scopedDomain(scope, request.body.domain, false);
      return deps.ca.call('ca.revoke', {
        serial: request.params.serial,
        reason: request.body.reason,
        actor: scope.actor,
        ip: request.ip,
        ...(domain === undefined ? {} : { domain }),
      });
    },
  );

  app.get(
    '/api/v1/admin/crl',
    { schema: documented('The current CRL', 'CRL number, dates, revoked serials and the PEM.') },
    async () => deps.ca.call('ca.crl', {}),
  );

  registerClientStatusRoutes(app, deps.clients, deps.scope);
  registerStatusCallbackRoute(app, deps.clients, deps.scope);
};
