/**
 * The limits that apply to one client: the client's own override (`limits.clients`,
 * keyed by CN) over its domain's (`domains[].limits`) over the global `limits`. Each
 * setting inherits separately, so a client entry may change only its quota.
 *
 * What counts (see README "Rate limits and quotas"): the rate limit counts requests that
 * reach Redis — one per message submitted, per valid batch item, per status lookup; the
 * daily quota counts messages queued. Both are enforced in Redis, shared by every
 * instance; requests refused by validation never reach Redis and count for neither.
 */
import type { BrokerConfig, DomainConfig } from '../config/config.js';

export interface ClientLimits {
  /** Requests per window; 0 = no limit. */
  rateLimit: number;
  rateWindowMs: number;
  /** Messages per UTC day; 0 = no quota. */
  dailyQuota: number;
}

/** `domain` is the client's domain as the caller knows it (domains reload live). */
export function resolveClientLimits(
  config: Readonly<BrokerConfig>,
  commonName: string,
  domainConfig: Pick<DomainConfig, 'limits'> | undefined,
): ClientLimits {
  const client = config.limits.clients[commonName];
  const domain = domainConfig?.limits;
  return {
    rateLimit: client?.rate_limit ?? domain?.rate_limit ?? config.limits.rate_limit,
    rateWindowMs: client?.rate_window_ms ?? domain?.rate_window_ms ?? config.limits.rate_window_ms,
    dailyQuota: client?.daily_quota ?? domain?.daily_quota ?? config.limits.daily_quota,
  };
}

/**
 * Resolves once per client and remembers, until its domain's settings change (a live
 * reload hands out new domain objects).
 */
export class ClientLimitsCache {
  private readonly cache = new Map<string, { domain: DomainConfig | undefined; limits: ClientLimits }>();

  constructor(private readonly config: Readonly<BrokerConfig>) {}

  of(commonName: string, domain: DomainConfig | undefined): ClientLimits {
    const hit = this.cache.get(commonName);
    if (hit && hit.domain === domain) return hit.limits;
    const limits = resolveClientLimits(this.config, commonName, domain);
    // Bounded: CNs come from registered certificates, but a cache must never grow unbounded.
    if (this.cache.size >= 10_000) this.cache.clear();
    this.cache.set(commonName, { domain, limits });
    return limits;
  }
}
