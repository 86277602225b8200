/**
 * Per-domain health (issue #18 item 7): what concerns one tenant — a client certificate
 * about to expire, a paused or inactive domain, its webhook breaker open, a plain-http
 * target — is reported under `domains.<name>` and does not degrade the installation's
 * `status`, so that one tenant's trouble does not page the operators of everyone.
 *
 * A domain is `up` or `degraded` with reasons; never `down`: whether the broker can take
 * traffic for anyone is the installation's status (Redis, MySQL, actors, CA…).
 */
import type { BrokerConfig } from '../config/config.js';
import type { DispatcherSnapshot } from '../delivery/target-dispatcher.js';
import type { DomainsHealth } from './health.types.js';
import { insecureHttpDomains } from './insecure-targets.js';

export type { DomainHealth, DomainsHealth } from './health.types.js';

/** A client certificate that expires within this many days degrades its domain. */
export const DOMAIN_CERT_URGENT_DAYS = 7;
const DAY_MS = 86_400_000;

export interface DomainHealthInputs {
  config: Pick<BrokerConfig, 'domains' | 'metrics'>;
  /** Per client, its active certificate that ends last (PkiStatus); undefined when the registry could not be read. */
  certificates: ReadonlyArray<{ domain: string; common_name: string; not_after: Date }> | undefined;
  /** The delivery actor's view of each webhook domain; undefined while it does not answer. */
  downstreams:
    | ReadonlyArray<Pick<DispatcherSnapshot, 'domain' | 'operational' | 'breaker'> & { target?: string }>
    | undefined;
  now?: number;
}

/** One entry per configured domain, `up` with no reasons when nothing is wrong with it. */
export function domainsHealth(inputs: DomainHealthInputs): DomainsHealth {
  const { config, certificates, downstreams } = inputs;
  const now = inputs.now ?? Date.now();
  const reasons = new Map<string, string[]>(config.domains.map((d) => [d.name, []]));
  const add = (domain: string, reason: string) => reasons.get(domain)?.push(reason);

  // Domains that exist to hold metrics scrapers are inactive by design (the config insists).
  const scraperDomains = new Set(config.metrics.client_names.map((cn) => cn.slice(cn.indexOf('.') + 1)));
  for (const domain of config.domains) {
    if (!domain.active && !scraperDomains.has(domain.name))
      add(domain.name, 'inactive: submissions are refused (active: false)');
    if (!domain.operational) add(domain.name, 'paused: deliveries wait (operational: false)');
  }
  for (const name of insecureHttpDomains(config)) {
    // Each kind the domain has in clear, whichever target is its default (a routed domain's
    // is often a store archive).
    const targets = config.domains.find((d) => d.name === name)?.targets ?? [];
    if (targets.some((t) => t.type === 'webhook' && /^http:\/\//i.test(t.url)))
      add(name, 'webhook target over plain http (allow_insecure_http): bodies travel in clear');
    if (targets.some((t) => t.type === 'amqp' && /^amqp:\/\//i.test(t.url)))
      add(name, 'amqp target over plain amqp:// (allow_insecure_amqp): bodies travel in clear');
  }
  for (const downstream of downstreams ?? []) {
    if (downstream.breaker.state === 'closed') continue;
    const domain = config.domains.find((d) => d.name === downstream.domain);
    const target = downstream.target ?? 'default';
    const kind = domain?.targets.find((t) => t.name === target)?.type === 'amqp' ? 'amqp' : 'webhook';
    add(
      downstream.domain,
      target === 'default'
        ? `${kind} circuit breaker ${downstream.breaker.state}`
        : `${kind} circuit breaker of target ${target} ${downstream.breaker.state}`,
    );
  }
  const soonest = new Map<string, { cn: string; days: number; count: number }>();
  for (const certificate of certificates ?? []) {
    const days = Math.floor((certificate.not_after.getTime() - now) / DAY_MS);
    if (days >= DOMAIN_CERT_URGENT_DAYS) continue;
    const seen = soonest.get(certificate.domain);
    if (!seen || days < seen.days)
      soonest.set(certificate.domain, { cn: certificate.common_name, days, count: (seen?.count ?? 0) + 1 });
    else seen.count += 1;
  }
  for (const [domain, { cn, days, count }] of soonest) {
    const others = count > 1 ? ` (and ${count - 1} more within ${DOMAIN_CERT_URGENT_DAYS} days)` : '';
    add(domain, `client certificate ${cn} expires in ${days} day${days === 1 ? '' : 's'}${others}`);
  }

  const out: DomainsHealth = {};
  for (const [domain, list] of reasons) out[domain] = { status: list.length > 0 ? 'degraded' : 'up', reasons: list };
  return out;
}
