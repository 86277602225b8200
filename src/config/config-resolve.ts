/**
 * The one place where overrides are resolved: the file's "inherit" conventions become the
 * plain effective values of `BrokerConfig`, right after validation (see `loadConfig`).
 * Nothing past the loader looks at a marker or falls back to a global default.
 *
 * The conventions stay as operators know them (README, config.example.yaml):
 *   0 = inherit          domains[].retry_interval_ms, .max_attempts, .target.timeout_ms,
 *                        domains[].targets.<name>.retry_interval_ms, .max_attempts, .timeout_ms
 *                        (a named target over its domain over delivery.*)
 *   'inherit'            domains[].backoff, domains[].targets.<name>.backoff
 *   -1 = inherit         domains[].retention_days (0 there means "keep forever")
 *   unset = inherit      domains[].limits.*, limits.clients.<cn>.* (client over its
 *                        domain over the global limits.*, setting by setting)
 *   0 = an equal share   domains[].concurrency_share (single target:) and
 *                        domains[].targets.<name>.concurrency_share: of what the webhook
 *                        targets that set one leave of delivery.concurrency, and at least
 *                        35 (the design's concurrent attempts) when delivery.concurrency
 *                        holds 35 for each
 *
 * Targets and routes: the single `target:` of old becomes `targets: [{name: default, …}]`
 * with one default route, so everything past the loader sees one form.
 *
 * The global `limits` section has no effective form of its own: each domain carries its
 * resolved limits and those of its clients that have an entry (a CN's domain is the part
 * after its first dot; an entry naming a domain not configured here can never apply, and
 * is left out).
 */
import { isCatchAll, type RouteConfig } from './config-routes.js';
import {
  DEFAULT_TARGET_NAME,
  type BrokerConfig,
  type ClientLimitsConfig,
  type DomainConfig,
  type DomainLimits,
  type LimitOverride,
  type RawBrokerConfig,
  type RawDomainConfig,
  type RawNamedTargetConfig,
  type TargetConfig,
} from './config.schema.js';

export function resolveConfig(raw: RawBrokerConfig): BrokerConfig {
  // `limits` is left out of the result: it lives on resolved in each domain (below).
  const { limits, ...rest } = raw;
  const equalShare = equalConcurrencyShare(raw);
  return { ...rest, domains: raw.domains.map((domain) => resolveDomain(raw, domain, equalShare)) };
}

/**
 * A target delivered by attempts through a transport (webhook, amqp): it
 * has a schedule, retries, a breaker and a slot share. A `store` target is delivered by
 * being stored, and has none of them.
 */
export function deliversByAttempts(target: { type: string }): boolean {
  return target.type !== 'store';
}

/** The fewest slots a domain is guaranteed by default when the total allows (DESIGN §2.4). */
export const MIN_CONCURRENCY_SHARE = 35;

/**
 * The guaranteed share of a webhook or amqp target that sets none. Shares are guarantees, not caps
 * (every target may use every free slot, src/delivery/slot-allocator.ts): they decide who
 * is served first when targets wait for a slot.
 */
function equalConcurrencyShare(raw: RawBrokerConfig): number {
  const webhooks = raw.domains.flatMap((d) => namedTargetsOf(d)).filter(([, t]) => deliversByAttempts(t));
  const unset = webhooks.filter(([, t]) => t.concurrency_share === 0).length;
  if (unset === 0) return 0;
  const total = raw.delivery.concurrency;
  const explicit = webhooks.reduce((n, [, t]) => n + t.concurrency_share, 0);
  const leftOver = Math.floor(Math.max(0, total - explicit) / unset);
  return Math.max(1, leftOver, Math.min(MIN_CONCURRENCY_SHARE, Math.floor(total / webhooks.length)));
}

/**
 * A domain's targets in the named form: its `targets`, or its single `target` as one
 * named `default` carrying the domain's share (the one level it had before).
 */
function namedTargetsOf(domain: RawDomainConfig): Array<[string, RawNamedTargetConfig]> {
  if (Object.keys(domain.targets).length > 0) return Object.entries(domain.targets);
  return [
    [
      DEFAULT_TARGET_NAME,
      {
        ...domain.target,
        retry_interval_ms: 0,
        max_attempts: 0,
        backoff: 'inherit',
        concurrency_share: domain.concurrency_share,
      },
    ],
  ];
}

function resolveDomain(raw: RawBrokerConfig, domain: RawDomainConfig, equalShare: number): DomainConfig {
  const { delivery } = raw;
  const retry_interval_ms = zeroInherits(domain.retry_interval_ms, delivery.retry_interval_ms);
  const max_attempts = zeroInherits(domain.max_attempts, delivery.max_attempts);
  const backoff = domain.backoff === 'inherit' ? delivery.backoff : domain.backoff;
  const targets = namedTargetsOf(domain).map(
    ([
      name,
      { retry_interval_ms: ownInterval, max_attempts: ownAttempts, backoff: ownBackoff, ...target },
    ]): TargetConfig => ({
      ...target,
      name,
      timeout_ms: zeroInherits(target.timeout_ms, delivery.webhook_timeout_ms),
      retry_interval_ms: zeroInherits(ownInterval, retry_interval_ms),
      max_attempts: zeroInherits(ownAttempts, max_attempts),
      backoff: ownBackoff === 'inherit' ? backoff : ownBackoff,
      concurrency_share: !deliversByAttempts(target) ? 0 : zeroInherits(target.concurrency_share, equalShare),
    }),
  );
  const routes: RouteConfig[] =
    domain.routes.length > 0 ? domain.routes : [{ name: 'default', match: {}, target: targets[0]!.name }];
  const { targets: _named, routes: _routes, ...plain } = domain;
  return {
    ...plain,
    target: defaultTarget(targets, routes),
    targets,
    routes,
    retry_interval_ms,
    max_attempts,
    backoff,
    concurrency_share: targets.reduce((n, t) => n + t.concurrency_share, 0),
    retention_days: domain.retention_days === -1 ? raw.retention.days : domain.retention_days,
    limits: resolveLimits(raw.limits, domain),
  };
}

/** The catch-all route's target, else the one named `default`, else the first. */
function defaultTarget(targets: TargetConfig[], routes: RouteConfig[]): TargetConfig {
  const name = routes.find((r) => isCatchAll(r.match))?.target ?? DEFAULT_TARGET_NAME;
  return targets.find((t) => t.name === name) ?? targets[0]!;
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
  // Keyed and named as the file has them: a single target by its domain, a named one by both.
  const webhooks = config.domains.flatMap((domain, i) =>
    domain.targets.filter(deliversByAttempts).map((target) =>
      isSingleTarget(domain)
        ? { share: target.concurrency_share, name: domain.name, key: `domains[${i}].concurrency_share` }
        : {
            share: target.concurrency_share,
            name: `${domain.name}/${target.name}`,
            key: targetSettingKey(i, domain, target.name, 'concurrency_share'),
          },
    ),
  );
  for (const { share, name, key } of webhooks)
    if (share > total)
      warnings.push({
        key,
        message: `${name}'s concurrency_share ${share} is more than delivery.concurrency ${total}, the cap on attempts in flight for all webhook domains together: it can have ${total} at most`,
      });
  const sum = webhooks.reduce((n, { share }) => n + share, 0);
  if (sum > total)
    warnings.push({
      key: 'delivery.concurrency',
      message: `the webhook domains' guaranteed shares add up to ${sum} (${webhooks.map(({ name, share }) => `${name} ${share}`).join(', ')}), more than delivery.concurrency ${total}: they cannot all be had at once; while domains wait for a slot, slots go round robin among those below their share. Raise delivery.concurrency or lower concurrency_share`,
    });
  return warnings;
}

/** Configured with the single `target:` of old (or one target named `default` and no routes of its own). */
function isSingleTarget(domain: Pick<DomainConfig, 'targets'>): boolean {
  return domain.targets.length === 1 && domain.targets[0]!.name === DEFAULT_TARGET_NAME;
}

/**
 * Where a target's setting is in the file, for messages that name it:
 * `domains[1].target.ca_file` (the single target) or `domains[1].targets.eu.ca_file`.
 */
export function targetSettingKey(
  index: number,
  domain: Pick<DomainConfig, 'targets'>,
  target: string,
  setting: string,
): string {
  return isSingleTarget(domain)
    ? `domains[${index}].target.${setting}`
    : `domains[${index}].targets.${target}.${setting}`;
}
