/**
 * Webhook targets over plain http, and amqp targets over plain amqp://. The config refuses
 * them unless a domain sets `target.allow_insecure_http` / `allow_insecure_amqp: true`; one
 * that does sends decrypted bodies and sender numbers in clear, so it stays visible: a degraded health component and a log warning
 * at start and after each reload that applies a change while one is left.
 */
import type { Logger } from '../logger.js';
import type { BrokerConfig } from '../config/config.js';
import type { HealthReport } from './health.types.js';

/** The domains with a target over http:// or amqp:// (allowed by `allow_insecure_http` / `allow_insecure_amqp`). */
export function insecureHttpDomains(config: Pick<BrokerConfig, 'domains'>): string[] {
  return config.domains
    .filter((d) =>
      d.targets.some(
        (t) => (t.type === 'webhook' && /^http:\/\//i.test(t.url)) || (t.type === 'amqp' && /^amqp:\/\//i.test(t.url)),
      ),
    )
    .map((d) => d.name);
}

/** `components.webhook_transport`: degraded while any webhook target is plain http. */
export function webhookTransportComponent(config: Pick<BrokerConfig, 'domains'>): HealthReport['components'][string] {
  const insecure = insecureHttpDomains(config);
  if (insecure.length === 0) return { status: 'up', insecure_http: [] };
  return {
    status: 'degraded',
    insecure_http: insecure,
    problem:
      'delivery targets over plain http or amqp (allow_insecure_http, allow_insecure_amqp): decrypted bodies and sender numbers travel in clear',
  };
}

/** Logs a warning naming each domain whose webhook target is plain http. */
export function warnInsecureTargets(config: Pick<BrokerConfig, 'domains'>, logger: Pick<Logger, 'warn'>): void {
  const insecure = insecureHttpDomains(config);
  if (insecure.length > 0)
    logger.warn(
      { domains: insecure },
      'delivery targets over plain http or amqp (target.allow_insecure_http, allow_insecure_amqp): decrypted bodies and sender numbers travel in clear',
    );
}
