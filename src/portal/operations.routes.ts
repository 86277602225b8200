/**
 * Admin operations: the overview (queue depth, throughput, failures, actor health,
 * certificates running out), the dead letters of webhook domains with "retry", and the
 * audit log. Numbers come from where they live: stream lengths from the ingest actor,
 * schedule and dead letters from Redis, counts from MySQL index ranges (last hour / day,
 * never a scan of the whole table), delivery counters from the delivery actor.
 */
import type { FastifyInstance } from 'fastify';
import { keysFor } from '../queue/keys.js';
import { DeadLetters, STREAM_ID } from '../queue/dead-letters.js';
import { DeliverySchedule } from '../queue/schedule.js';
import { defineScripts } from '../queue/scripts.js';
import { BrokerError } from '../errors.js';
import type { AdminContext } from './admin-context.js';
import { presentCertificate } from './certificate-state.js';
import { text } from './form-fields.js';
import { PORTAL_PREFIX, renderPage } from './portal-render.js';
import { administersDomain } from './tenant-scope.js';

const HOUR_MS = 3_600_000;

export function registerOperationsRoutes(app: FastifyInstance, admin: AdminContext): void {
  const { repositories, messagePages, actors, redis, health, config } = admin.options;
  const keys = keysFor(config);
  const deadLetters = new DeadLetters(redis);
  const schedule = new DeliverySchedule(redis, defineScripts(redis));
  const pageSize = config.portal.page_size;
  const webhookDomains = config.domains.filter((d) => d.target.type === 'webhook').map((d) => d.name);

  /** A failing source shows as "unavailable" on the page instead of failing the page. */
  const settle = <T>(promise: Promise<T>): Promise<T | undefined> => promise.catch(() => undefined);

  app.get('/', async (request, reply) => {
    const scope = admin.scope(request);
    const domains = admin.domainChoices(request);
    const now = Date.now();
    const [depth, report, delivery, certificates] = await Promise.all([
      settle(actors.ingestDepth()),
      health.report(),
      scope.kind === 'all' ? settle(actors.deliveryStats()) : Promise.resolve(undefined),
      repositories.certificates.list(scope.kind === 'domain' ? { domain: scope.domain } : {}),
    ]);
    const rows = await Promise.all(
      domains.map(async (domain) => {
        const domainKeys = keys.get(domain)!;
        const [hour, day, queue] = await Promise.all([
          messagePages.countSince(new Date(now - HOUR_MS), domain),
          messagePages.countSince(new Date(now - 24 * HOUR_MS), domain),
          webhookDomains.includes(domain) ? settle(schedule.depth(domainKeys)) : Promise.resolve(undefined),
        ]);
        return { domain, webhook: webhookDomains.includes(domain), backlog: depth?.[domain], hour, day, queue, perMinute: Math.round(((hour.delivered ?? 0) / 60) * 10) / 10 };
      }),
    );
    const expiring = certificates.filter((c) => presentCertificate(c, now).expiring);
    return renderPage(request, reply, 'overview', { title: 'Overview', nav: 'overview', rows, health: report, delivery, expiring, depthAvailable: depth !== undefined });
  });

  app.get('/dead-letters', async (request, reply) => {
    const scope = admin.scope(request);
    const choices = admin.domainChoices(request).filter((d) => webhookDomains.includes(d));
    const chosen = text(request.query, 'domain', 253);
    const domain = scope.kind === 'domain' ? scope.domain : choices.includes(chosen) ? chosen : choices[0];
    const before = text(request.query, 'before', 45);
    const page = domain && webhookDomains.includes(domain) ? await deadLetters.page(keys.get(domain)!, pageSize, STREAM_ID.test(before) ? before : undefined) : { entries: [], more: false };
    const rows = await repositories.messages.findByMessageIds(page.entries.map((e) => e.message_id));
    const byId = new Map(rows.map((r) => [r.message_id, r]));
    const clients = new Map((await repositories.clients.findByIds([...new Set(rows.map((r) => r.client_id))])).map((c) => [c.id, c.name]));
    return renderPage(request, reply, 'dead-letters', {
      title: 'Dead letters',
      nav: 'dead-letters',
      domain: domain ?? '',
      domains: choices,
      webhook: domain !== undefined && webhookDomains.includes(domain),
      entries: page.entries.map((entry) => {
        const message = byId.get(entry.message_id);
        return { ...entry, status: message?.status ?? 'missing', client: message ? clients.get(message.client_id) ?? '' : '', sender_masked: message?.sender_masked ?? '' };
      }),
      older: page.more ? page.entries.at(-1)?.entry_id : undefined,
    });
  });

  app.post<{ Params: { domain: string; entryId: string } }>('/dead-letters/:domain/:entryId/retry', async (request, reply) => {
    const { domain, entryId } = request.params;
    const domainKeys = keys.get(domain);
    if (!domainKeys || !administersDomain(admin.scope(request), domain)) throw new BrokerError('NOT_FOUND', 'There is no such dead letter');
    const entry = await deadLetters.find(domainKeys, entryId);
    if (!entry) throw new BrokerError('NOT_FOUND', 'There is no such dead letter (retried already?)');
    const now = new Date();
    if (!(await repositories.messages.requeueFailed(entry.message_id, now))) throw new BrokerError('CONFLICT', 'That message is not failed any more: it was retried or delivered already');
    try {
      await deadLetters.requeue(domainKeys, entry, now.getTime());
    } catch {
      // The row must not claim "queued" when nothing will attempt it.
      await repositories.messages.restoreFailed(entry.message_id);
      throw new BrokerError('QUEUE_UNAVAILABLE', 'The retry could not be scheduled; try again');
    }
    await admin.audit(request, 'message.retry', { type: 'message', id: entry.message_id, domain }, { dead_letter: entry.entry_id, attempts: entry.attempts });
    return reply.redirect(`${PORTAL_PREFIX}/admin/dead-letters?domain=${encodeURIComponent(domain)}&notice=retry-scheduled`, 303);
  });

  app.get('/audit', async (request, reply) => {
    const filter = admin.domainFilter(request);
    const before = Number(text(request.query, 'before', 20));
    const entries = await repositories.audit.list({ ...filter, limit: pageSize + 1, ...(Number.isSafeInteger(before) && before > 0 ? { beforeId: before } : {}) });
    const shown = entries.slice(0, pageSize);
    const actorIds = [...new Set(shown.map((e) => /^user:(\d+)$/.exec(e.actor)?.[1]).filter((id): id is string => id !== undefined))];
    const emails = new Map((await Promise.all(actorIds.map((id) => repositories.users.findById(Number(id))))).filter((u) => u !== undefined).map((u) => [`user:${u.id}`, u.email]));
    return renderPage(request, reply, 'audit', {
      title: 'Audit log',
      nav: 'audit',
      entries: shown.map((e) => ({ ...e, actor_name: emails.get(e.actor) ?? e.actor })),
      older: entries.length > pageSize ? shown.at(-1)?.id : undefined,
      domains: admin.domainChoices(request),
      domain: filter.domain ?? '',
    });
  });
}
