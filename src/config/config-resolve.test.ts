import { describe, expect, it } from 'vitest';
import { type BrokerConfig, type DomainConfig, loadConfig } from './config.js';

const load = (values: Record<string, unknown>, env: NodeJS.ProcessEnv = {}) => loadConfig({ values, env });
const webhook = { type: 'webhook', url: 'https://x.test/in', secret: 's' };
const domainOf = (config: Readonly<BrokerConfig>, name = 'default'): DomainConfig =>
  config.domains.find((d) => d.name === name)!;

/** Global defaults that differ from the built-in ones, so an inherited value is recognisable. */
const delivery = { retry_interval_ms: 7000, max_attempts: 9, backoff: 'exponential', webhook_timeout_ms: 4000 };

describe('resolveConfig: each inherit convention becomes the effective value', () => {
  it.each([
    ['retry_interval_ms unset', {}, 'retry_interval_ms', 7000],
    ['retry_interval_ms 0 = inherit', { retry_interval_ms: 0 }, 'retry_interval_ms', 7000],
    ['retry_interval_ms own', { retry_interval_ms: 250 }, 'retry_interval_ms', 250],
    ['max_attempts unset', {}, 'max_attempts', 9],
    ['max_attempts 0 = inherit', { max_attempts: 0 }, 'max_attempts', 9],
    ['max_attempts own', { max_attempts: 2 }, 'max_attempts', 2],
    ['backoff unset', {}, 'backoff', 'exponential'],
    ["backoff 'inherit'", { backoff: 'inherit' }, 'backoff', 'exponential'],
    ['backoff own', { backoff: 'fixed' }, 'backoff', 'fixed'],
  ] as const)('%s', (_what, own, key, effective) => {
    const config = load({ delivery, domains: [{ name: 'default', target: webhook, ...own }] });
    expect(domainOf(config)[key]).toBe(effective);
  });

  it.each([
    ['unset', {}, 4000],
    ['0 = inherit', { timeout_ms: 0 }, 4000],
    ['own', { timeout_ms: 1500 }, 1500],
  ])('target.timeout_ms %s', (_what, own, effective) => {
    const config = load({ delivery, domains: [{ name: 'default', target: { ...webhook, ...own } }] });
    expect(domainOf(config).target.timeout_ms).toBe(effective);
  });

  it.each([
    ['unset', {}, 30],
    ['-1 = inherit', { retention_days: -1 }, 30],
    ['0 = keep forever (not inherit)', { retention_days: 0 }, 0],
    ['own', { retention_days: 2 }, 2],
  ])('retention_days %s', (_what, own, effective) => {
    const config = load({ retention: { days: 30 }, domains: [{ name: 'default', ...own }] });
    expect(domainOf(config).retention_days).toBe(effective);
  });

  it('resolves limits client over domain over global, setting by setting, each unset one inheriting', () => {
    const config = load({
      limits: {
        rate_limit: 50,
        rate_window_ms: 30_000,
        daily_quota: 500,
        clients: {
          'own.acme': { rate_limit: 0, rate_window_ms: null },
          'gw.default': { daily_quota: 7 },
          'lost.elsewhere': { rate_limit: 1 },
        },
      },
      domains: [{ name: 'default' }, { name: 'acme', limits: { daily_quota: 2000, rate_window_ms: null } }],
    });
    expect(domainOf(config).limits).toEqual({
      rate_limit: 50,
      rate_window_ms: 30_000,
      daily_quota: 500,
      clients: { 'gw.default': { rate_limit: 50, rate_window_ms: 30_000, daily_quota: 7 } },
    });
    expect(domainOf(config, 'acme').limits).toEqual({
      rate_limit: 50,
      rate_window_ms: 30_000,
      daily_quota: 2000,
      // 0 is "no limit", not "inherit"; null (unset) inherits from the domain.
      clients: { 'own.acme': { rate_limit: 0, rate_window_ms: 30_000, daily_quota: 2000 } },
    });
    // An entry for a domain not configured here can never apply, and has no effective form.
    expect(JSON.stringify(config)).not.toContain('lost.elsewhere');
  });

  it('lets a global MB_LIMITS_* value reach the domains that inherit it, not one with its own', () => {
    const config = load(
      { domains: [{ name: 'default', limits: { daily_quota: 9 } }] },
      { MB_LIMITS_DAILY_QUOTA: '42' },
    );
    expect(domainOf(config).limits.daily_quota).toBe(9);
    expect(domainOf(config).limits.rate_limit).toBe(100);
  });

  it('gives each webhook domain without a concurrency_share an equal share of delivery.concurrency', () => {
    const config = load({
      delivery: { concurrency: 100 },
      domains: [
        { name: 'default' },
        { name: 'a', target: webhook },
        { name: 'b', target: webhook, concurrency_share: 0 },
        { name: 'c', target: webhook, concurrency_share: 40 },
      ],
    });
    expect(config.domains.map((d) => [d.name, d.concurrency_share])).toEqual([
      ['default', 0],
      ['a', 33],
      ['b', 33],
      ['c', 40],
    ]);
  });

  it('keeps a value that means "off" rather than "inherit" as it is', () => {
    const config = load({ domains: [{ name: 'default', max_age_ms: 0, rate_per_s: 0 }] });
    expect(domainOf(config)).toMatchObject({ max_age_ms: 0, rate_per_s: 0 });
  });
});
