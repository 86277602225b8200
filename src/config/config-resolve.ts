/**
 * The one place where overrides are resolved: the file's "inherit" conventions become the
 * plain effective values of `BrokerConfig`, right after validation (see `loadConfig`).
 * Nothing past the loader looks at a marker or falls back to a global default.
 *
 * The conventions stay as operators know them (README, config.example.yaml):
 *   0 = inherit          domains[].retry_interval_ms, .max_attempts, .target.timeout_ms
 *   'inherit'            domains[].backoff
 *   -1 = inherit         domains[].retention_days (0 there means "keep forever")
 *   0 = an equal share   domains[].concurrency_share (of delivery.concurrency)
 */
import type { BrokerConfig, DomainConfig, RawBrokerConfig, RawDomainConfig } from './config.schema.js';

export function resolveConfig(raw: RawBrokerConfig): BrokerConfig {
  const webhookDomains = raw.domains.filter((d) => d.target.type === 'webhook').length;
  return { ...raw, domains: raw.domains.map((domain) => resolveDomain(raw, domain, webhookDomains)) };
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
  };
}

function zeroInherits(own: number, inherited: number): number {
  return own === 0 ? inherited : own;
}
