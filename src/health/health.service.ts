/**
 * Health of the whole broker, for `/api/v1/health` (components), `/readyz` (can it take
 * traffic) and `/healthz` (is the process alive). Probes are short and time-bounded so
 * a hung dependency shows as down instead of hanging the health check.
 *
 * `status` is the installation's: the worst of the components that every tenant shares
 * (Redis and its persistence, MySQL, actors, CRL, server certificate, instances and their
 * config). What concerns one tenant — its downstream, its certificates, its plain-http
 * target — is listed too but counts under `domains.<name>` (domain-health.ts) instead.
 */
import type { Redis } from 'ioredis';
import type { ActorHost } from '../actors/actor-host.js';
import type { DurabilityState } from '../queue/durability.js';
import { notConnectedCause } from '../queue/redis-connection.js';
import type { ComponentStatus, DomainsHealth, HealthReport } from './health.types.js';

export type { ComponentStatus, HealthReport } from './health.types.js';

export interface HealthDeps {
  instanceId: string;
  version: string;
  redis: Redis;
  pingDatabase(): Promise<void>;
  /**
   * Whether accepting needs MySQL: false when client identities are shared in Redis
   * (`server.identity_shared_cache_ms` > 0), so MySQL away leaves the broker ready — a load
   * balancer keeps sending, and the outage shows as `mysql: down` in the health report and
   * as the unstored-backlog alerts. Default true.
   */
  mysqlNeededToAccept?: boolean;
  actors: ReadonlyArray<ActorHost<never>>;
  durability(): DurabilityState | undefined;
  /** What stops Redis from keeping a message right now (WritabilityWatch); empty when nothing does. */
  writeProblems?(): readonly string[];
  /** Why submits are refused as QUEUE_FULL (the broker's Redis memory limit), or undefined. */
  queueFull?(): string | undefined;
  serverCertificateNotAfter(): Date | undefined;
  /** Extra components contributed by later subsystems (CRL, breakers…). */
  extra?: () => Promise<HealthReport['components']>;
  /** Per-domain state (certificates, pauses, breakers, insecure targets). */
  domains?: () => Promise<DomainsHealth>;
}

const PROBE_TIMEOUT_MS = 1500;
const CERT_WARN_DAYS = 30;

export class HealthService {
  private readonly startedAt = Date.now();

  constructor(private readonly deps: HealthDeps) {}

  async report(): Promise<HealthReport> {
    const [redis, mysql, extra, domains] = await Promise.all([
      this.redis(),
      this.mysql(),
      this.deps.extra?.() ?? {},
      this.deps.domains?.(),
    ]);
    const components: HealthReport['components'] = {
      redis,
      mysql,
      ...this.actors(),
      server_certificate: this.serverCertificate(),
      ...extra,
    };
    return {
      status: installationStatus(components),
      instance_id: this.deps.instanceId,
      version: this.deps.version,
      uptime_s: Math.round((Date.now() - this.startedAt) / 1000),
      components,
      ...(domains ? { domains } : {}),
    };
  }

  /**
   * Ready = Redis answers (and can keep a message), every actor is up (or parked on
   * purpose: the CA actor runs on demand), and MySQL answers if accepting needs it.
   */
  async readiness(): Promise<{ ready: boolean; reasons: string[] }> {
    const [redis, mysql] = await Promise.all([this.redis(), this.mysql()]);
    const reasons: string[] = [];
    if (redis.status === 'down') reasons.push('redis unreachable');
    if (mysql.status === 'down' && this.deps.mysqlNeededToAccept !== false) reasons.push('mysql unreachable');
    for (const problem of this.deps.writeProblems?.() ?? []) reasons.push(problem);
    // Every submit would be refused: a load balancer should not send any (all brokers share
    // the Redis, so all say so until delivery has stored enough of the backlog).
    const full = this.deps.queueFull?.();
    if (full) reasons.push(full);
    for (const actor of this.deps.actors) if (!actor.isAvailable) reasons.push(`${actor.name} actor ${actor.state}`);
    return { ready: reasons.length === 0, reasons };
  }

  private async redis(): Promise<HealthReport['components'][string]> {
    const started = Date.now();
    try {
      await withTimeout(this.deps.redis.ping(), PROBE_TIMEOUT_MS);
      const durability = this.deps.durability();
      const detail = {
        latency_ms: Date.now() - started,
        appendonly: durability?.appendonly,
        appendfsync: durability?.appendfsync,
      };
      // Redis answers but cannot keep a message: as good as down for the one thing we need it for.
      const problems = this.deps.writeProblems?.() ?? [];
      if (problems.length > 0) return { status: 'down', ...detail, problem: problems.join('; ') };
      if (durability && !durability.durable) return { status: 'degraded', ...detail, problem: durability.problem };
      const full = this.deps.queueFull?.();
      if (full) return { status: 'degraded', ...detail, problem: full };
      return { status: 'up', ...detail };
    } catch (error) {
      return { status: 'down', error: notConnectedCause(this.deps.redis, error) ?? (error as Error).message };
    }
  }

  private async mysql(): Promise<HealthReport['components'][string]> {
    const started = Date.now();
    try {
      await withTimeout(this.deps.pingDatabase(), PROBE_TIMEOUT_MS);
      return { status: 'up', latency_ms: Date.now() - started };
    } catch (error) {
      return { status: 'down', error: (error as Error).message };
    }
  }

  private actors(): HealthReport['components'] {
    const out: HealthReport['components'] = {};
    for (const actor of this.deps.actors) {
      // `state: idle` is an on-demand actor parked with nothing to do: up, started by the next call.
      out[`actor_${actor.name}`] = {
        status: actor.isAvailable ? 'up' : 'down',
        state: actor.state,
        restarts: actor.restarts,
      };
    }
    return out;
  }

  private serverCertificate(): HealthReport['components'][string] {
    const notAfter = this.deps.serverCertificateNotAfter();
    if (!notAfter) return { status: 'degraded', problem: 'no server certificate loaded' };
    const daysLeft = Math.floor((notAfter.getTime() - Date.now()) / 86_400_000);
    const status: ComponentStatus = daysLeft < 0 ? 'down' : daysLeft < CERT_WARN_DAYS ? 'degraded' : 'up';
    return { status, not_after: notAfter.toISOString(), days_left: daysLeft };
  }
}

/**
 * What anyone may see (issue #17): the overall status and each component's status, no
 * detail. Details name other tenants (expiring certificates' CNs and serials, a breaker's
 * last error with the downstream's internal address) and the host (instance host, pid);
 * per-domain components are folded into one `downstreams` status so that tenants' domain
 * names do not show either — and for that reason `domains` is left out entirely.
 */
export interface HealthSummary {
  status: ComponentStatus;
  components: Record<string, { status: ComponentStatus }>;
}

const DOWNSTREAM = 'downstream_';

/**
 * Components that describe tenants rather than the installation: still listed (with
 * their own status, as before), summarized per domain under `domains`, and left out of
 * the overall status. `client_certificates` lists every tenant's expiring certificates.
 */
export function isDomainScoped(component: string): boolean {
  return component.startsWith(DOWNSTREAM) || component === 'client_certificates' || component === 'webhook_transport';
}

/** The installation's status: the worst of the shared components. */
export function installationStatus(components: HealthReport['components']): ComponentStatus {
  return worst(
    Object.entries(components)
      .filter(([name]) => !isDomainScoped(name))
      .map(([, c]) => c.status),
  );
}

export function summarizeHealth(report: HealthReport): HealthSummary {
  const components: HealthSummary['components'] = {};
  for (const [name, component] of Object.entries(report.components)) {
    const key = name.startsWith(DOWNSTREAM) ? 'downstreams' : name;
    components[key] = { status: worst([components[key]?.status ?? 'up', component.status]) };
  }
  return { status: report.status, components };
}

/**
 * The report as one domain's admin sees it: the shared components (Redis, MySQL, actors,
 * CRL, server certificate, instances) by status alone — their details can name hosts,
 * pids or other tenants — and the domain's own downstream in full. Other domains'
 * components and the installation-wide client certificate list are left out, and so are
 * other domains' entries under `domains`; the overall status is the installation's.
 */
export function healthForDomain(report: HealthReport, domain: string): HealthReport {
  const components: HealthReport['components'] = {};
  for (const [name, component] of Object.entries(report.components)) {
    if (name === `${DOWNSTREAM}${domain}`) components[name] = component;
    else if (name.startsWith(DOWNSTREAM) || name === 'client_certificates') continue;
    else components[name] = { status: component.status };
  }
  const own = report.domains?.[domain];
  const { domains: _all, ...rest } = report;
  return {
    ...rest,
    status: installationStatus(components),
    components,
    ...(own ? { domains: { [domain]: own } } : {}),
  };
}

function worst(statuses: ComponentStatus[]): ComponentStatus {
  return statuses.includes('down') ? 'down' : statuses.includes('degraded') ? 'degraded' : 'up';
}

export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
