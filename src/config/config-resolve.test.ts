import { describe, expect, it } from 'vitest';
import { type BrokerConfig, type DomainConfig, loadConfig } from './config.js';
import { planReload } from './config-reload.js';
import { deliveryShareWarnings } from './config-resolve.js';

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

  const shares = (concurrency: number, ...own: number[]) => {
    const config = load({
      delivery: { concurrency },
      domains: [
        { name: 'default' },
        ...own.map((share, i) => ({ name: `w${i}`, target: webhook, concurrency_share: share })),
      ],
    });
    return { shares: config.domains.slice(1).map((d) => d.concurrency_share), warnings: deliveryShareWarnings(config) };
  };

  it('gives each webhook domain without a concurrency_share (a guarantee) an equal share of what the others leave', () => {
    expect(shares(64, 0, 0)).toEqual({ shares: [32, 32], warnings: [] });
    expect(shares(200, 0, 0, 0)).toEqual({ shares: [66, 66, 66], warnings: [] });
    expect(shares(200, 100, 0, 0)).toEqual({ shares: [100, 50, 50], warnings: [] });
    // Store targets take no slot.
    expect(load({ domains: [{ name: 'default', concurrency_share: 9 }] }).domains[0]?.concurrency_share).toBe(0);
  });

  it('guarantees at least 35 where delivery.concurrency holds 35 for each domain, however much the others set', () => {
    const { shares: resolved, warnings } = shares(128, 100, 0);
    expect(resolved).toEqual([100, 35]);
    expect(warnings.map((w) => w.key)).toEqual(['delivery.concurrency']);
    // 64 cannot hold 35 for each of two: an equal split, as much as it can.
    expect(shares(64, 60, 0).shares).toEqual([60, 32]);
  });

  it('warns (without refusing) about shares that cannot all be had at once, or exceed the total', () => {
    // The configuration: shares were fixed allotments, added up (40 + 21 + 21 = 82
    // in flight). Still valid, 64 in flight at most now, and a warning says why 82 no longer fits.
    const { shares: resolved, warnings } = shares(64, 40, 0, 0);
    expect(resolved).toEqual([40, 21, 21]);
    expect(warnings).toEqual([
      { key: 'delivery.concurrency', message: expect.stringContaining('add up to 82 (w0 40, w1 21, w2 21)') },
    ]);
    const over = shares(64, 80, 30);
    expect(over.warnings).toEqual([
      {
        key: 'domains[1].concurrency_share',
        message: expect.stringContaining('80 is more than delivery.concurrency 64'),
      },
      { key: 'delivery.concurrency', message: expect.stringContaining('add up to 110 (w0 80, w1 30)') },
    ]);
  });

  it('keeps a value that means "off" rather than "inherit" as it is', () => {
    const config = load({ domains: [{ name: 'default', max_age_ms: 0, rate_per_s: 0 }] });
    expect(domainOf(config)).toMatchObject({ max_age_ms: 0, rate_per_s: 0 });
  });
});

describe('the effective config', () => {
  /** Every convention of the file at once: zeros, 'inherit', -1, unset (null) limits, client entries. */
  const everyMarker = {
    retention: { days: 30 },
    limits: { clients: { 'gw.acme': { rate_limit: null, daily_quota: 3 }, 'gw.default': {} } },
    domains: [
      { name: 'default', retention_days: -1, backoff: 'inherit', limits: { rate_limit: null } },
      {
        name: 'acme',
        target: { ...webhook, timeout_ms: 0 },
        retry_interval_ms: 0,
        max_attempts: 0,
        backoff: 'inherit',
        concurrency_share: 0,
        retention_days: -1,
        limits: { rate_limit: null, rate_window_ms: null, daily_quota: null },
      },
    ],
  };

  it('is deep-frozen', () => {
    const config = load(everyMarker);
    const unfrozen: string[] = [];
    walk(config, '', (path, value) => {
      if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) unfrozen.push(path || '(root)');
    });
    expect(unfrozen).toEqual([]);
  });

  it('holds no inherit marker anywhere', () => {
    const config = load(everyMarker);
    const markers: string[] = [];
    walk(config, '', (path, value) => {
      if (value === null || value === undefined || value === 'inherit' || (typeof value === 'number' && value < 0))
        markers.push(`${path} = ${String(value)}`);
    });
    expect(markers).toEqual([]);
    expect(config).not.toHaveProperty('limits');
    // Where 0 used to mean "inherit", a plain 0 is left nowhere.
    for (const domain of config.domains) {
      expect(domain.retry_interval_ms).toBeGreaterThan(0);
      expect(domain.max_attempts).toBeGreaterThan(0);
      expect(domain.target.timeout_ms).toBeGreaterThan(0);
    }
    expect(domainOf(config, 'acme').concurrency_share).toBeGreaterThan(0);
  });

  it('is what the reload compares: a changed global default reaches the domains that inherit it, live', () => {
    const current = load({ domains: [{ name: 'default' }, { name: 'own', max_attempts: 3 }] });
    const reload = (values: Record<string, unknown>) =>
      planReload(current, load({ domains: [{ name: 'default' }, { name: 'own', max_attempts: 3 }], ...values }));

    const attempts = reload({ delivery: { max_attempts: 9 } });
    expect(attempts.changed.sort()).toEqual(['delivery', 'domains']);
    expect(attempts.restartRequired).toEqual([]);
    expect(attempts.next.domains.map((d) => [d.name, d.max_attempts])).toEqual([
      ['default', 9],
      ['own', 3],
    ]);

    const retention = reload({ retention: { days: 5 } });
    expect(retention.changed.sort()).toEqual(['domains', 'retention']);
    expect(retention.restartRequired).toEqual([]);
    expect(retention.next.domains[0]?.retention_days).toBe(5);

    // The limits have no section of their own in the effective config: they reload with the domains.
    const limits = reload({ limits: { rate_limit: 7, clients: { 'gw.default': { daily_quota: 1 } } } });
    expect(limits.changed).toEqual(['domains']);
    expect(limits.restartRequired).toEqual([]);
    expect(limits.next.domains[0]?.limits).toEqual({
      rate_limit: 7,
      rate_window_ms: 60_000,
      daily_quota: 10_000,
      clients: { 'gw.default': { rate_limit: 7, rate_window_ms: 60_000, daily_quota: 1 } },
    });
  });
});

function walk(value: unknown, path: string, visit: (path: string, value: unknown) => void): void {
  visit(path, value);
  if (value === null || typeof value !== 'object') return;
  for (const [key, child] of Object.entries(value)) walk(child, path === '' ? key : `${path}.${key}`, visit);
}
