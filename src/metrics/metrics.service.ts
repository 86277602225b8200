/**
 * What `/metrics` shows: this thread's registry merged with every actor's.
 *
 *   scrape ─▶ probes (Redis queue, PKI, readiness)  ┐ at once, each time-bounded
 *          ─▶ each actor: actor.metrics (or last)   ┘
 *          ─▶ main registry + actors' families ─▶ AggregatorRegistry.aggregate ─▶ text
 *
 * Families of the same name are summed series by series (same labels ⇒ one series), so
 * a counter incremented in two threads shows the exact total; `nodejs_*` carry a
 * `thread` label, so per-thread lag and heap stay apart.
 */
import { AggregatorRegistry } from 'prom-client';
import type { DomainsHealth } from '../health/domain-health.js';
import { withTimeout } from '../health/health.service.js';
import type { Logger } from '../logger.js';
import type { ActorMetricsCollector } from './actor-metrics.collector.js';
import { CounterFamily, GaugeFamily } from './fast-series.js';
import { labelThread, type MetricFamily } from './metric-families.js';
import type { PkiProbe } from './pki.probe.js';
import type { QueueProbe } from './queue.probe.js';
import { registry } from './registry.js';
import type { ActorHost } from '../actors/actor-host.js';
import { snapshot } from './registry-snapshot.js';
import { describeError } from '../db/database.js';

const actorUp = new GaugeFamily(
  'mb_actor_up',
  'Whether each actor is up (1, also while parked on demand: see mb_actor_idle) or down/restarting (0)',
  ['actor'],
);
const actorIdle = new GaugeFamily(
  'mb_actor_idle',
  'Whether an on-demand actor (the CA, encryption) is parked (1: no thread, started by its next call) or running (0)',
  ['actor'],
);
const actorRestarts = new CounterFamily(
  'mb_actor_restarts_total',
  'Times each actor died and was restarted by the supervisor',
  ['actor'],
);
const ready = new GaugeFamily(
  'mb_ready',
  'Readiness (as /readyz): 1 when Redis and every actor are up, and MySQL when accepting needs it (server.identity_shared_cache_ms 0)',
).series();
const redisDurable = new GaugeFamily(
  'mb_redis_durable',
  'Whether Redis keeps what a 202 promises (AOF on, appendfsync as queue.fsync asks), as last checked: at start, after each reconnect, every minute; 0 also when CONFIG cannot be read',
).series();
const domainHealth = new GaugeFamily(
  'mb_domain_health',
  "Each configured domain's health (as /api/v1/health domains): 1 up, 0.5 degraded; not part of mb_ready",
  ['domain'],
);
const DOMAIN_HEALTH_VALUE = { up: 1, degraded: 0.5, down: 0 } as const;
const readingAge = new GaugeFamily(
  'mb_metrics_actor_reading_age_seconds',
  'Age of the numbers shown for each actor (0: it answered this scrape, or it is parked and its final counts are shown; growing: it is down or slow)',
  ['actor'],
);
const buildInfo = new GaugeFamily('mb_build_info', 'Broker version and instance (always 1)', [
  'version',
  'instance_id',
]);

/** Probes share the scrape's budget: a hung Redis or MySQL must not hang Prometheus. */
const PROBE_TIMEOUT_MS = 2000;

export interface MetricsServiceDeps {
  version: string;
  instanceId: string;
  actors: ReadonlyArray<Pick<ActorHost<never>, 'name' | 'isAvailable' | 'state' | 'restarts'>>;
  collector: ActorMetricsCollector;
  queue: QueueProbe;
  pki: PkiProbe;
  readiness(): Promise<{ ready: boolean }>;
  /** Redis' persistence as last checked (DurabilityWatch); undefined before the first check. */
  redisDurable?: () => boolean | undefined;
  /** Per-domain health for `mb_domain_health`. */
  domainHealth?: () => Promise<DomainsHealth>;
  logger: Logger;
}

export class MetricsService {
  readonly contentType = registry.contentType;
  private readonly warned = new Set<string>();

  constructor(private readonly deps: MetricsServiceDeps) {
    buildInfo.series(deps.version, deps.instanceId).set(1);
    for (const actor of deps.actors) actorRestarts.series(actor.name);
  }

  async render(): Promise<string> {
    const [readings] = await Promise.all([this.deps.collector.collect(), this.probe()]);
    for (const [actor, age] of readings.ages) readingAge.series(actor).set(age);
    const all: MetricFamily[][] = [labelThread(await snapshot(), 'main', true), ...readings.families];
    this.warnAboutSummedGauges(all);
    return AggregatorRegistry.aggregate<typeof registry.contentType>(all).metrics();
  }

  /**
   * Families of one name are summed by the merge. For counters that is the point; a gauge
   * reported twice (registered in two threads, or in a thread's series and its registry)
   * is a mistake that would show double: say so, once per name.
   */
  private warnAboutSummedGauges(all: MetricFamily[][]): void {
    const seen = new Map<string, number>();
    for (const family of all.flat()) {
      if (family.type === 'gauge' && !family.name.startsWith('nodejs_'))
        seen.set(family.name, (seen.get(family.name) ?? 0) + 1);
    }
    for (const [metric, count] of seen) {
      if (count < 2 || this.warned.has(metric)) continue;
      this.warned.add(metric);
      this.deps.logger.warn({ metric, count }, 'a gauge is reported more than once: /metrics shows the sum');
    }
  }

  private async probe(): Promise<void> {
    for (const actor of this.deps.actors) {
      actorUp.series(actor.name).set(actor.isAvailable ? 1 : 0);
      actorIdle.series(actor.name).set(actor.state === 'idle' ? 1 : 0);
      // The host's count only grows: the counter is that count.
      actorRestarts.series(actor.name).value = actor.restarts;
    }
    const durable = this.deps.redisDurable?.();
    if (durable !== undefined) redisDurable.set(durable ? 1 : 0);
    const { queue, pki, readiness, logger } = this.deps;
    await Promise.all([
      withTimeout(queue.refresh(), PROBE_TIMEOUT_MS).catch((error: unknown) => {
        queue.clear();
        logger.debug({ err: (error as Error).message }, 'metrics: queue probe failed');
      }),
      withTimeout(pki.refresh(), PROBE_TIMEOUT_MS).catch((error: unknown) =>
        logger.debug({ err: describeError(error) }, 'metrics: pki probe failed'),
      ),
      withTimeout(readiness(), PROBE_TIMEOUT_MS).then(
        (r) => ready.set(r.ready ? 1 : 0),
        () => ready.set(0),
      ),
      this.probeDomains(),
    ]);
  }

  /** Rebuilt each scrape: a domain removed by a reload disappears instead of freezing. */
  private async probeDomains(): Promise<void> {
    const { domainHealth: read, logger } = this.deps;
    if (!read) return;
    try {
      const domains = await withTimeout(read(), PROBE_TIMEOUT_MS);
      domainHealth.clear();
      for (const [domain, health] of Object.entries(domains))
        domainHealth.series(domain).set(DOMAIN_HEALTH_VALUE[health.status]);
    } catch (error) {
      // Last values stay: a slow probe says nothing new about the domains.
      logger.debug({ err: describeError(error) }, 'metrics: domain health probe failed');
    }
  }
}
