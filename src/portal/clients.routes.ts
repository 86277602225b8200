/**
 * Admin pages for clients (the senders that hold certificates): list with certificate
 * state, detail, disable/enable. A client is created together with its first certificate
 * (the form posts to the certificate issue route). Disabling takes effect at once, on this
 * broker and on every other one sharing the Redis (src/clients/client-status.service.ts): the
 * client's cached identities are dropped and its open connections refused and closed, so
 * the next request is refused with CLIENT_DISABLED. The client's status callback URL is set
 * here too (as with `mb client callback` and the admin API).
 */
import type { FastifyInstance } from 'fastify';
import type { AdminContext } from './admin-context.js';
import { presentCertificate, summarizeClients } from './certificate-state.js';
import { BrokerError } from '../errors.js';
import {
  callbackHost,
  callbackUrlProblem,
  MAX_CALLBACK_URL_LENGTH,
  tenantCallbackHostProblem,
  tenantCallbackHosts,
} from '../events/callback-url.js';
import { idParam, text } from './form-fields.js';
import { PORTAL_PREFIX, renderPage } from './portal-render.js';

export function registerClientsRoutes(app: FastifyInstance, admin: AdminContext): void {
  const { repositories, clientStatus } = admin.options;
  const base = `${PORTAL_PREFIX}/admin/clients`;

  app.get('/clients', async (request, reply) => {
    const filter = admin.domainFilter(request);
    const [clients, certificates] = await Promise.all([
      repositories.clients.list(filter),
      repositories.certificates.list(filter),
    ]);
    return renderPage(request, reply, 'clients', {
      title: 'Clients',
      nav: 'clients',
      clients: summarizeClients(clients, certificates),
      domains: admin.domainChoices(request),
      domain: filter.domain ?? '',
      defaultDays: admin.config.pki.client_days,
    });
  });

  app.get('/clients/:id', async (request, reply) => {
    const client = await admin.client(request, idParam(request.params));
    const [certificates, users] = await Promise.all([
      repositories.certificates.list({ domain: client.domain }),
      repositories.users.list({ domain: client.domain }),
    ]);
    const own = certificates.filter((c) => c.client_id === client.id);
    const [summary] = summarizeClients([client], own);
    const callback = admin.config.domains.find((d) => d.name === client.domain)?.status_callback;
    return renderPage(request, reply, 'client', {
      title: `${client.name}.${client.domain}`,
      nav: 'clients',
      client: summary,
      certificates: own.map((c) => presentCertificate(c)),
      users: users.filter((u) => u.client_id === client.id),
      callback: {
        url: client.status_callback_url ?? '',
        domainDefault: callback?.url ?? '',
        signed: (callback?.secret ?? '') !== '',
        // What a domain's own admin may name (a superadmin, any host).
        hosts: callback && admin.scope(request).kind !== 'all' ? tenantCallbackHosts(callback).join(', ') : '',
      },
    });
  });

  // Empty: back to the domain's default. Every broker picks it up within events.callback_refresh_ms.
  app.post('/clients/:id/status-callback', async (request, reply) => {
    const client = await admin.client(request, idParam(request.params));
    const url = text(request.body, 'url', MAX_CALLBACK_URL_LENGTH + 1);
    const problem = url === '' ? undefined : callbackUrlProblem(url);
    if (problem) throw new BrokerError('FORM_INVALID', `The callback URL ${problem}`);
    const domain = admin.config.domains.find((d) => d.name === client.domain);
    if (url !== '' && !domain?.status_callback.secret)
      throw new BrokerError(
        'FORM_INVALID',
        `Domain ${client.domain} has no status_callback.secret to sign callbacks with`,
      );
    // A domain's own admin: only towards the hosts the operator named for the domain.
    const elsewhere =
      url === '' || admin.scope(request).kind === 'all'
        ? undefined
        : tenantCallbackHostProblem(domain!.status_callback, url);
    if (elsewhere) throw new BrokerError('FORM_INVALID', `The callback URL's ${elsewhere}`);
    await repositories.clients.setStatusCallback(client.id, url === '' ? null : url);
    await admin.audit(
      request,
      'client.status_callback',
      { type: 'client', id: String(client.id), domain: client.domain },
      { name: client.name, host: url === '' ? null : callbackHost(url) },
    );
    return reply.redirect(`${base}/${client.id}?notice=callback-saved`, 303);
  });

  for (const [verb, status] of [
    ['disable', 'disabled'],
    ['enable', 'active'],
  ] as const) {
    app.post(`/clients/:id/${verb}`, async (request, reply) => {
      const client = await admin.client(request, idParam(request.params));
      const { announced } = await clientStatus.set(client, status);
      if (!announced)
        request.log.warn(
          { client: `${client.name}.${client.domain}` },
          'the other brokers could not be told of the client status (Redis unreachable)',
        );
      await admin.audit(
        request,
        `client.${verb}`,
        { type: 'client', id: String(client.id), domain: client.domain },
        { name: client.name, announced },
      );
      return reply.redirect(`${base}/${client.id}?notice=client-${status === 'active' ? 'enabled' : 'disabled'}`, 303);
    });
  }
}
