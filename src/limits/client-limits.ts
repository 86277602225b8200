/**
 * The limits that apply to one client: the client's own override (`limits.clients`,
 * keyed by CN) over its domain's (`domains[].limits`) over the global `limits`. Each
 * setting inherits separately, so a client entry may change only its quota. The loader
 * resolves all of that once (`config-resolve.ts`); here it is only looked up.
 *
 * What counts (see README "Rate limits and quotas"): the rate limit counts requests that
 * reach Redis — one per message submitted, per valid batch item, per status lookup; the
 * daily quota counts messages queued. Both are enforced in Redis, shared by every
 * instance; requests refused by validation never reach Redis and count for neither.
 */
import type { DomainConfig } from '../config/config.js';

export interface ClientLimits {
  /** Requests per window; 0 = no limit. */
  rateLimit: number;
  rateWindowMs: number;
  /** Messages per UTC day; 0 = no quota. */
  dailyQuota: number;
}

/**
 * `domain` is the client's domain as the caller holds it now (domains reload live, and a
 * reloaded domain carries its clients' new limits).
 */
export function clientLimitsOf(domain: Pick<DomainConfig, 'limits'>, commonName: string): ClientLimits {
  const { clients } = domain.limits;
  // A client without an entry of its own has its domain's limits.
  const limits = Object.hasOwn(clients, commonName) ? clients[commonName]! : domain.limits;
  return { rateLimit: limits.rate_limit, rateWindowMs: limits.rate_window_ms, dailyQuota: limits.daily_quota };
}
