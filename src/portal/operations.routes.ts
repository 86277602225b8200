/**
 * Admin operations: the overview (queue depth, throughput, failures, each downstream's
 * circuit breaker, actor health, certificates running out, and for a superadmin the
 * config reload), the dead letters of webhook domains with "retry" and "redrive all",
 * and the audit log. Numbers come from where they live: stream lengths from the ingest
 * actor, schedule and dead letters from Redis, counts from MySQL index ranges (last hour
 * / day, never a scan of the whole table), delivery counters and breakers from the
 * delivery actor. Domains are read from the config in force, so a reload shows at once.
 */
import { deliversByAttempts } from '../config/config-resolve.js';
import type { FastifyInstance } from 'fastify';
import { ConfigError } from '../config/config.js';
import { healthForDomain } from '../health/health.service.js';
import { keysFor, targetKeys } from '../queue/keys.js';
import { BrokerError } from '../errors.js';
import type { AdminContext } from './admin-context.js';
import { presentCertificate } from './certificate-state.js';
import { text } from './form-fields.js';
import { PORTAL_PREFIX, renderPage } from './portal-render.js';
import { administersDomain } from './tenant-scope.js';

const HOUR_MS = 3_600_000;

export function registerOperationsRoutes(app: FastifyInstance, admin: AdminContext): void {
  const { repositories, messagePages, actors, health, operations, deadLetters, schedule } = admin.options;
  const pageSize = admin.config.portal.page_size;
  const keyOf = (domain: string) => keysFor(admin.config).get(domain);
  const webhookDomains = () =>
    admin.config.domains.filter((d) => d.targets.some(deliversByAttempts)).map((d) => d.name);
  /** A domain's delivery queue: its webhook targets' schedules, leases and dead letters together. */
  const queueDepth = async (name: string) => {
    const domain = admin.config.domains.find((d) => d.name === name)!;
    const depths = await Promise.all(
      domain.targets
        .filter(deliversByAttempts)
        .map((t) => schedule.depth(targetKeys(admin.config.redis.key_prefix, domain, t.name))),
    );
    return depths.reduce((sum, d) => ({
      scheduled: sum.scheduled + d.scheduled,
      inflight: sum.inflight + d.inflight,
      dead: sum.dead + d.dead,
    }));
  };

  /** A domain's webhook targets, its default target first. */
  const webhookTargetsOf = (name: string): string[] => {
    const domain = admin.config.domains.find((d) => d.name === name);
    if (!domain) return [];
    const names = domain.targets.filter(deliversByAttempts).map((t) => t.name);
    return names.includes(domain.target.name)
      ? [domain.target.name, ...names.filter((n) => n !== domain.target.name)]
      : names;
  };
  /** `?target=` of a dead-letter form: one of the domain's targets (the service refuses others), or none. */
  const targetParam = (query: unknown): string | undefined => text(query, 'target', 32) || undefined;
  const targetQuery = (target: string | undefined) => (target ? `&target=${encodeURIComponent(target)}` : '');

  /** A failing source shows as "unavailable" on the page instead of failing the page. */
  const settle = <T>(promise: Promise<T>): Promise<T | undefined> => promise.catch(() => undefined);

  app.get('/', async (request, reply) => {
    const scope = admin.scope(request);
    const domains = admin.domainChoices(request);
    const now = Date.now();
    const webhooks = webhookDomains();
    const [depth, report, delivery, downstreams, certificates] = await Promise.all([
      settle(actors.ingestDepth()),
      health.report(),
      scope.kind === 'all' ? settle(actors.deliveryStats()) : Promise.resolve(undefined),
      webhooks.length > 0 ? settle(actors.downstreams()) : Promise.resolve([]),
      repositories.certificates.list(scope.kind === 'domain' ? { domain: scope.domain } : {}),
    ]);
    const rows = await Promise.all(
      domains.map(async (domain) => {
        const webhook = webhooks.includes(domain);
        const [hour, day, queue] = await Promise.all([
          messagePages.countSince(new Date(now - HOUR_MS), domain),
          messagePages.countSince(new Date(now - 24 * HOUR_MS), domain),
          webhook ? settle(queueDepth(domain)) : Promise.resolve(undefined),
        ]);
        // With several webhook targets, the one whose breaker is not closed shows first.
        const own = downstreams?.filter((d) => d.domain === domain) ?? [];
        const downstream = own.find((d) => d.breaker.state !== 'closed') ?? own[0];
        return {
          domain,
          webhook,
          backlog: depth?.[domain],
          hour,
          day,
          queue,
          downstream,
          downstreamKnown: downstreams !== undefined,
          perMinute: Math.round(((hour.delivered ?? 0) / 60) * 10) / 10,
        };
      }),
    );
    const expiring = certificates.filter((c) => presentCertificate(c, now).expiring);
    return renderPage(request, reply, 'overview', {
      title: 'Overview',
      nav: 'overview',
      live: admin.options.events !== undefined,
      rows,
      // A domain admin sees the shared components by status and their own downstream, nothing of other tenants.
      health: scope.kind === 'all' ? report : healthForDomain(report, scope.kind === 'domain' ? scope.domain : ''),
      delivery,
      expiring,
      depthAvailable: depth !== undefined,
      // The config spans every domain: only a superadmin reloads it.
      canReload: scope.kind === 'all' && operations !== undefined,
    });
  });

  app.post('/reload', async (request, reply) => {
    if (admin.scope(request).kind !== 'all' || !operations) throw new BrokerError('NOT_FOUND');
    let result;
    // A reload waits for the actors' graceful restarts, which can outlast the socket's
    // inactivity timeout (server.request_timeout_ms) on a loaded box: the admin's
    // connection would be dropped mid-answer. Suspend it for this request only.
    const socket = request.raw.socket;
    const idleTimeout = socket.timeout;
    socket.setTimeout(0);
    try {
      result = await operations.reloadFromFile();
    } catch (error) {
      if (error instanceof ConfigError) {
        await admin.audit(request, 'config.reload_refused', { type: 'config' }, { problem: error.message });
        throw new BrokerError('RELOAD_REFUSED', `The reload was refused, nothing changed: ${error.message}`);
      }
      throw error;
    } finally {
      if (!socket.destroyed && idleTimeout) socket.setTimeout(idleTimeout);
    }
    await admin.audit(request, 'config.reload', { type: 'config' }, { ...result });
    const notice =
      result.restart_required.length > 0
        ? 'config-restart-needed'
        : result.changed.length > 0
          ? 'config-reloaded'
          : 'config-unchanged';
    return reply.redirect(`${PORTAL_PREFIX}/admin?notice=${notice}`, 303);
  });

  app.get('/dead-letters', async (request, reply) => {
    const scope = admin.scope(request);
    const webhooks = webhookDomains();
    const choices = admin.domainChoices(request).filter((d) => webhooks.includes(d));
    const chosen = text(request.query, 'domain', 253);
    const domain = scope.kind === 'domain' ? scope.domain : choices.includes(chosen) ? chosen : choices[0];
    const before = text(request.query, 'before', 45);
    // A domain that routes has dead letters per webhook target: one at a time, its default first.
    const targets = domain ? webhookTargetsOf(domain) : [];
    const asked = text(request.query, 'target', 32);
    const target = targets.includes(asked) ? asked : targets[0];
    const page =
      domain && target
        ? await deadLetters.page(domain, { limit: pageSize, before, target })
        : { entries: [], more: false };
    const rows = await repositories.messages.findByMessageIds(page.entries.map((e) => e.message_id));
    const byId = new Map(rows.map((r) => [r.message_id, r]));
    const clients = new Map(
      (await repositories.clients.findByIds([...new Set(rows.map((r) => r.client_id))])).map((c) => [c.id, c.name]),
    );
    return renderPage(request, reply, 'dead-letters', {
      title: 'Dead letters',
      nav: 'dead-letters',
      domain: domain ?? '',
      domains: choices,
      target: target ?? '',
      // Only a domain with several webhook targets shows the choice (and names it in links).
      targets: targets.length > 1 ? targets : [],
      webhook: domain !== undefined && webhooks.includes(domain),
      entries: page.entries.map((entry) => {
        const message = byId.get(entry.message_id);
        return {
          ...entry,
          status: message?.status ?? 'missing',
          client: message ? (clients.get(message.client_id) ?? '') : '',
          sender_masked: message?.sender_masked ?? '',
        };
      }),
      older: page.more ? page.entries.at(-1)?.entry_id : undefined,
    });
  });

  // The service audits the retry (`message.retry`), as it does a redrive.
  app.post<{ Params: { domain: string; entryId: string } }>(
    '/dead-letters/:domain/:entryId/retry',
    async (request, reply) => {
      const { domain, entryId } = request.params;
      if (!keyOf(domain) || !administersDomain(admin.scope(request), domain))
        throw new BrokerError('NOT_FOUND', 'There is no such dead letter');
      const target = targetParam(request.query);
      const by = admin.by(request);
      await deadLetters.retry(domain, entryId, by.actor, by.ip ?? undefined, target);
      return reply.redirect(
        `${PORTAL_PREFIX}/admin/dead-letters?domain=${encodeURIComponent(domain)}${targetQuery(target)}&notice=retry-scheduled`,
        303,
      );
    },
  );

  // Every dead letter of the domain at once, through the same service as `mb dead-letter
  // redrive --all` (it audits the redrive with its counts).
  app.post<{ Params: { domain: string } }>('/dead-letters/:domain/redrive-all', async (request, reply) => {
    const { domain } = request.params;
    if (!keyOf(domain) || !administersDomain(admin.scope(request), domain))
      throw new BrokerError('NOT_FOUND', 'There is no such domain');
    const target = targetParam(request.query);
    const by = admin.by(request);
    const { requeued } = await deadLetters.redrive(domain, 'all', by.actor, by.ip ?? undefined, target);
    return reply.redirect(
      `${PORTAL_PREFIX}/admin/dead-letters?domain=${encodeURIComponent(domain)}${targetQuery(target)}&notice=${requeued > 0 ? 'redrive-scheduled' : 'redrive-empty'}`,
      303,
    );
  });

  app.get('/audit', async (request, reply) => {
    const filter = admin.domainFilter(request);
    const before = Number(text(request.query, 'before', 20));
    const entries = await repositories.audit.list({
      ...filter,
      limit: pageSize + 1,
      ...(Number.isSafeInteger(before) && before > 0 ? { beforeId: before } : {}),
    });
    const shown = entries.slice(0, pageSize);
    const actorIds = [
      ...new Set(shown.map((e) => /^user:(\d+)$/.exec(e.actor)?.[1]).filter((id): id is string => id !== undefined)),
    ];
    // An account moved to another tenant since it acted is named by where it is now: a
    // domain admin reads "another domain", not which one (its move row says as little).
    const scope = admin.scope(request);
    const domainLabel = (domain: string | null) =>
      domain === null ? 'all' : scope.kind === 'domain' && domain !== scope.domain ? 'another domain' : domain;
    const emails = new Map(
      (await Promise.all(actorIds.map((id) => repositories.users.findById(Number(id)))))
        .filter((u) => u !== undefined)
        // An email may have accounts in several domains (#17): the domain says which acted.
        .map((u) => [`user:${u.id}`, `${u.email} (${domainLabel(u.domain)})`]),
    );
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
