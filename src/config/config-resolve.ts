/**
 * The one place where overrides are resolved: the file's "inherit" conventions become the
 * plain effective values of `BrokerConfig`, right after validation (see `loadConfig`).
 * Nothing past the loader looks at a marker or falls back to a global default.
 *
 * The conventions stay as operators know them (README, config.example.yaml):
 *   0 = inherit          domains[].retry_interval_ms, .max_attempts, .target.timeout_ms
 *   'inherit'            domains[].backoff
 *   -1 = inherit         domains[].retention_days (0 there means "keep forever")
 *   unset = inherit      domains[].limits.*, limits.clients.<cn>.* (client over its
 *                        domain over the global limits.*, setting by setting)
 *   0 = an equal share   domains[].concurrency_share: of what the domains that set one
 *                        leave of delivery.concurrency, and at least 35 (the design's
 *                        concurrent attempts) when delivery.concurrency holds 35 for each
 *
 * The global `limits` section has no effective form of its own: each domain carries its
 * resolved limits and those of its clients that have an entry (a CN's domain is the part
 * after its first dot; an entry naming a domain not configured here can never apply, and
 * is left out).
 */
import type {
  BrokerConfig,
  ClientLimitsConfig,
  DomainConfig,
  DomainLimits,
  LimitOverride,
  RawBrokerConfig,
  RawDomainConfig,
} from './config.schema.js';
import { isDispatchedTarget } from './config.schema.js';

export function resolveConfig(raw: RawBrokerConfig): BrokerConfig {
  // `limits` is left out of the result: it lives on resolved in each domain (below).
  const { limits, ...rest } = raw;
  const equalShare = equalConcurrencyShare(raw);
  return { ...rest, domains: raw.domains.map((domain) => resolveDomain(raw, domain, equalShare)) };
}

/** The fewest slots a domain is guaranteed by default when the total allows (DESIGN §2.4). */
export const MIN_CONCURRENCY_SHARE = 35;

/**
 * The guaranteed share of a webhook domain that sets none. Shares are guarantees, not caps
 * (every domain may use every free slot, src/delivery/slot-allocator.ts): they decide who
 * is served first when domains wait for a slot.
 */
function equalConcurrencyShare(raw: RawBrokerConfig): number {
  const webhooks = raw.domains.filter((d) => isDispatchedTarget(d.target));
  const unset = webhooks.filter((d) => d.concurrency_share === 0).length;
  if (unset === 0) return 0;
  const total = raw.delivery.concurrency;
  const explicit = webhooks.reduce((n, d) => n + d.concurrency_share, 0);
  const leftOver = Math.floor(Math.max(0, total - explicit) / unset);
  return Math.max(1, leftOver, Math.min(MIN_CONCURRENCY_SHARE, Math.floor(total / webhooks.length)));
}

function resolveDomain(raw: RawBrokerConfig, domain: RawDomainConfig, equalShare: number): DomainConfig {
  const { delivery } = raw;
  return {
    ...domain,
    target: { ...domain.target, timeout_ms: zeroInherits(domain.target.timeout_ms, delivery.webhook_timeout_ms) },
    retry_interval_ms: zeroInherits(domain.retry_interval_ms, delivery.retry_interval_ms),
    max_attempts: zeroInherits(domain.max_attempts, delivery.max_attempts),
    backoff: domain.backoff === 'inherit' ? delivery.backoff : domain.backoff,
    concurrency_share: !isDispatchedTarget(domain.target) ? 0 : zeroInherits(domain.concurrency_share, equalShare),
    retention_days: domain.retention_days === -1 ? raw.retention.days : domain.retention_days,
    limits: resolveLimits(raw.limits, domain),
  };
}

function resolveLimits(global: RawBrokerConfig['limits'], domain: RawDomainConfig): DomainLimits {
  const own = unsetInherits(domain.limits, global);
  const clients: Record<string, ClientLimitsConfig> = {};
  for (const [commonName, override] of Object.entries(global.clients)) {
    if (commonName.slice(commonName.indexOf('.') + 1) === domain.name)
      clients[commonName] = unsetInherits(override, own);
  }
  return { ...own, clients };
}

function zeroInherits(own: number, inherited: number): number {
  return own === 0 ? inherited : own;
}

function unsetInherits(own: LimitOverride, inherited: ClientLimitsConfig): ClientLimitsConfig {
  return {
    rate_limit: own.rate_limit ?? inherited.rate_limit,
    rate_window_ms: own.rate_window_ms ?? inherited.rate_window_ms,
    daily_quota: own.daily_quota ?? inherited.daily_quota,
  };
}

export interface ConfigWarning {
  /** The config key it is about. */
  key: string;
  message: string;
}

/**
 * Shares that cannot mean what they say now that they are guarantees within one shared
 * `delivery.concurrency` (before, each was a fixed allotment, added on top of the others).
 * Valid all the same: logged at start and shown by `mb config check`.
 */
export function deliveryShareWarnings(config: Pick<BrokerConfig, 'delivery' | 'domains'>): ConfigWarning[] {
  const total = config.delivery.concurrency;
  const warnings: ConfigWarning[] = [];
  const webhooks = config.domains
    .map((domain, i) => ({ domain, key: `domains[${i}].concurrency_share` }))
    .filter(({ domain }) => isDispatchedTarget(domain.target));
  for (const { domain, key } of webhooks)
    if (domain.concurrency_share > total)
      warnings.push({
        key,
        message: `${domain.name}'s concurrency_share ${domain.concurrency_share} is more than delivery.concurrency ${total}, the cap on attempts in flight for all webhook domains together: it can have ${total} at most`,
      });
  const sum = webhooks.reduce((n, { domain }) => n + domain.concurrency_share, 0);
  if (sum > total)
    warnings.push({
      key: 'delivery.concurrency',
      message: `the webhook domains' guaranteed shares add up to ${sum} (${webhooks.map(({ domain }) => `${domain.name} ${domain.concurrency_share}`).join(', ')}), more than delivery.concurrency ${total}: they cannot all be had at once; while domains wait for a slot, slots go round robin among those below their share. Raise delivery.concurrency or lower concurrency_share`,
    });
  return warnings;
}
