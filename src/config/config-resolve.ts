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
 *   0 = an equal share   domains[].concurrency_share (of delivery.concurrency)
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

export function resolveConfig(raw: RawBrokerConfig): BrokerConfig {
  // `limits` is left out of the result: it lives on resolved in each domain (below).
  const { limits, ...rest } = raw;
  const webhookDomains = raw.domains.filter((d) => d.target.type === 'webhook').length;
  return { ...rest, domains: raw.domains.map((domain) => resolveDomain(raw, domain, webhookDomains)) };
}

function resolveDomain(raw: RawBrokerConfig, domain: RawDomainConfig, webhookDomains: number): DomainConfig {
  const { delivery } = raw;
  return {
    ...domain,
    target: { ...domain.target, timeout_ms: zeroInherits(domain.target.timeout_ms, delivery.webhook_timeout_ms) },
    retry_interval_ms: zeroInherits(domain.retry_interval_ms, delivery.retry_interval_ms),
    max_attempts: zeroInherits(domain.max_attempts, delivery.max_attempts),
    backoff: domain.backoff === 'inherit' ? delivery.backoff : domain.backoff,
    concurrency_share:
      domain.target.type !== 'webhook'
        ? 0
        : zeroInherits(domain.concurrency_share, Math.max(1, Math.floor(delivery.concurrency / webhookDomains))),
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
