/**
 * Admin pages for client certificates, all through the CA actor (the only holder of the
 * CA key): list with expiry warnings, issue (key + certificate handed out once, as a
 * zip), renew (new key, same name; the previous certificate stays valid until it expires
 * or is revoked, older active ones are revoked as superseded), revoke with an RFC 5280 reason. A new client comes into being with its
 * first certificate (ca.issue); an existing client gets another one (ca.renew). The CA
 * actor writes the audit entries of issue, renew and revoke (with the admin's address);
 * the portal adds the key download.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { IssuedBundle, RenewedBundle } from '../ca/ca.types.js';
import { ADMIN_REVOCATION_REASONS } from '../pki/pki.types.js';
import type { CertificateRow, ClientRow } from '../db/schema.js';
import { BrokerError } from '../errors.js';
import type { AdminContext } from './admin-context.js';
import { bundleZip } from './bundle-stash.js';
import { CLIENT_NAME, clientNameProblem } from '../ca/client-name.js';
import { presentCertificate } from './certificate-state.js';
import { choice, idParam, text, type FormErrors } from './form-fields.js';
import { PORTAL_PREFIX, renderPage } from './portal-render.js';
import { administersDomain } from './tenant-scope.js';

const SERIAL = /^[0-9a-fA-F]{1,64}$/;
const LIST_STATUSES = ['active', 'expiring', 'revoked', 'expired'] as const;
const MAX_DAYS = 825;

export function registerCertificatesRoutes(app: FastifyInstance, admin: AdminContext): void {
  const { repositories, actors, stash } = admin.options;
  const base = `${PORTAL_PREFIX}/admin/certificates`;

  /** A certificate (and its client) the admin administers; 404 otherwise. */
  async function certificate(request: FastifyRequest): Promise<{ certificate: CertificateRow; client: ClientRow }> {
    const serial = (request.params as { serial?: string }).serial ?? '';
    const row = SERIAL.test(serial) ? await repositories.certificates.findBySerial(serial) : undefined;
    const client = row ? await repositories.clients.findById(row.client_id) : undefined;
    if (!row || !client || !administersDomain(admin.scope(request), client.domain))
      throw new BrokerError('NOT_FOUND', 'There is no such certificate');
    return { certificate: row, client };
  }

  function issuedPage(
    request: FastifyRequest,
    reply: FastifyReply,
    bundle: IssuedBundle | RenewedBundle,
    renewed: boolean,
  ): FastifyReply {
    const token = stash.put(request.portal!.user.id, bundle);
    const { key_pem: _key, ...shown } = bundle;
    return renderPage(request, reply, 'certificate-issued', {
      title: renewed ? 'Certificate renewed' : 'Certificate issued',
      nav: 'certificates',
      bundle: shown,
      token,
      ttlMinutes: stash.ttlMinutes,
      renewed,
      // What a renewal did to the client's other certificates: one overlaps, older ones are revoked.
      renewal: 'superseded' in bundle ? bundle : null,
    });
  }

  async function issueForm(
    request: FastifyRequest,
    reply: FastifyReply,
    form: Record<string, string>,
    errors: FormErrors,
    status = 200,
  ): Promise<FastifyReply> {
    const clients = await repositories.clients.list(admin.domainFilter(request));
    void reply.code(status);
    return renderPage(request, reply, 'certificate-new', {
      title: 'Issue a certificate',
      nav: 'certificates',
      clients,
      domains: admin.domainChoices(request),
      form,
      errors,
      defaultDays: admin.config.pki.client_days,
    });
  }

  app.get('/certificates', async (request, reply) => {
    const filter = admin.domainFilter(request);
    const status = choice(request.query, 'status', LIST_STATUSES) ?? '';
    const all = (await repositories.certificates.list(filter)).map((c) => presentCertificate(c));
    const shown = all.filter((c) => status === '' || (status === 'expiring' ? c.expiring : c.status === status));
    return renderPage(request, reply, 'certificates', {
      title: 'Certificates',
      nav: 'certificates',
      certificates: shown,
      expiringCount: all.filter((c) => c.expiring).length,
      domains: admin.domainChoices(request),
      domain: filter.domain ?? '',
      status,
    });
  });

  app.get('/certificates/new', async (request, reply) => {
    const clientId = text(request.query, 'client', 10);
    const client = clientId ? await admin.client(request, idParam({ id: clientId })) : undefined;
    return issueForm(
      request,
      reply,
      { client: client ? `${client.name}@${client.domain}` : '', name: '', domain: client?.domain ?? '', days: '' },
      {},
    );
  });

  app.post('/certificates', async (request, reply) => {
    const scope = admin.scope(request);
    const form = {
      client: text(request.body, 'client', 320),
      name: text(request.body, 'name', 64).toLowerCase(),
      domain: text(request.body, 'domain', 253),
      days: text(request.body, 'days', 4),
    };
    const errors: FormErrors = {};
    // Either an existing client ("name@domain") or a new name (+ domain for a superadmin).
    let [name, domain] = form.client
      ? form.client.split('@')
      : [form.name, scope.kind === 'domain' ? scope.domain : form.domain];
    name ??= '';
    domain ??= '';
    if (!CLIENT_NAME.test(name))
      errors[form.client ? 'client' : 'name'] =
        'Choose a client, or name a new one (lowercase letters, digits, - or _)';
    if (!admin.domainChoices(request).includes(domain))
      errors[form.client ? 'client' : 'domain'] = form.client
        ? 'Choose one of your clients'
        : 'Choose one of the configured domains';
    // A new name must also fit its domain's CN (name.domain, at most 64 characters).
    else if (!form.client && !errors['name']) {
      const problem = clientNameProblem(name, domain);
      if (problem !== undefined) errors['name'] = problem;
    }
    const days = form.days === '' ? admin.config.pki.client_days : Number(form.days);
    if (!Number.isInteger(days) || days < 1 || days > MAX_DAYS) errors['days'] = `Between 1 and ${MAX_DAYS} days`;
    if (Object.keys(errors).length > 0) return issueForm(request, reply, form, errors, 422);
    await admin.sentOnce(request);
    const by = admin.by(request);
    // A domain admin may not mint a metrics identity (the CA refuses it): see metrics.client_names.
    const scoped = scope.kind !== 'all';
    try {
      // A new client gets its first certificate (ca.issue); an existing one another one (ca.renew).
      const bundle = form.client
        ? await actors.ca.call('ca.renew', { name, domain, days, actor: by.actor, ip: request.ip, scoped })
        : await actors.ca.call('ca.issue', { name, domain, days, actor: by.actor, ip: request.ip, scoped });
      return issuedPage(request, reply, bundle, false);
    } catch (error) {
      if (
        !(error instanceof BrokerError) ||
        !['CLIENT_EXISTS', 'CLIENT_NOT_FOUND', 'METRICS_IDENTITY_RESERVED'].includes(error.code)
      )
        throw error;
      const field = form.client ? 'client' : 'name';
      return issueForm(
        request,
        reply,
        form,
        {
          [field]:
            error.code === 'CLIENT_EXISTS'
              ? `${name}.${domain} exists already: choose it in the list above`
              : error.code === 'CLIENT_NOT_FOUND'
                ? `There is no client ${name}.${domain}`
                : `${name}.${domain} is reserved for metrics scrapers: only a superadmin may issue it`,
        },
        error.code === 'METRICS_IDENTITY_RESERVED' ? 403 : 422,
      );
    }
  });

  app.post('/certificates/download', async (request, reply) => {
    const bundle = stash.take(text(request.body, 'token', 64), request.portal!.user.id);
    const domain = bundle ? bundle.common_name.slice(bundle.common_name.indexOf('.') + 1) : '';
    // Held for the account that issued it, but only while it still administers that domain:
    // an admin moved to another tenant meanwhile takes no key of the old one along.
    if (!bundle || !administersDomain(admin.scope(request), domain))
      throw new BrokerError(
        'NOT_FOUND',
        `This download is gone: a key can be downloaded once, within ${stash.ttlMinutes} minutes of issuing. Revoke the certificate and issue a new one.`,
      );
    await admin.audit(request, 'certificate.key_download', { type: 'certificate', id: bundle.serial, domain });
    return reply
      .type('application/zip')
      .header('content-disposition', `attachment; filename="${bundle.common_name}.zip"`)
      .send(bundleZip(bundle, `https://${request.host}`));
  });

  app.get('/certificates/:serial', async (request, reply) => {
    const { certificate: row, client } = await certificate(request);
    return renderPage(request, reply, 'certificate', {
      title: row.subject_cn,
      nav: 'certificates',
      certificate: presentCertificate(row),
      client,
      reasons: ADMIN_REVOCATION_REASONS,
    });
  });

  app.post('/certificates/:serial/renew', async (request, reply) => {
    const { client } = await certificate(request);
    await admin.sentOnce(request);
    const bundle = await actors.ca.call('ca.renew', {
      name: client.name,
      domain: client.domain,
      actor: admin.by(request).actor,
      ip: request.ip,
      scoped: admin.scope(request).kind !== 'all',
    });
    return issuedPage(request, reply, bundle, true);
  });

  app.post('/certificates/:serial/revoke', async (request, reply) => {
    const { certificate: row, client } = await certificate(request);
    const reason = choice(request.body, 'reason', ADMIN_REVOCATION_REASONS) ?? 'unspecified';
    // The CA checks the domain again: a serial outside it reads as not found there too.
    if (row.status !== 'revoked')
      await actors.ca.call('ca.revoke', {
        serial: row.serial,
        domain: client.domain,
        reason,
        actor: admin.by(request).actor,
        ip: request.ip,
      });
    return reply.redirect(`${base}/${row.serial}?notice=certificate-revoked`, 303);
  });
}
