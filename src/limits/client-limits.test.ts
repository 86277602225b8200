import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../config/config.js';
import { clientLimitsOf } from './client-limits.js';

const load = (values: Record<string, unknown>, env: NodeJS.ProcessEnv = {}) => loadConfig({ values, env });
const limitsOf = (config: ReturnType<typeof load>, commonName: string, domain: string) =>
  clientLimitsOf(config.domains.find((d) => d.name === domain)!, commonName);

describe('clientLimitsOf', () => {
  it('defaults to 100 requests per 60 s and 10,000 messages a day', () => {
    expect(limitsOf(load({}), 'demo.default', 'default')).toEqual({
      rateLimit: 100,
      rateWindowMs: 60_000,
      dailyQuota: 10_000,
    });
  });

  it('takes the client override over the domain override over the global value, setting by setting', () => {
    const config = load({
      limits: {
        rate_limit: 50,
        daily_quota: 500,
        clients: { 'big.acme': { rate_limit: 5000 }, 'off.acme': { rate_limit: 0, daily_quota: 0 } },
      },
      domains: [{ name: 'default' }, { name: 'acme', limits: { daily_quota: 2000, rate_window_ms: 1000 } }],
    });
    expect(limitsOf(config, 'small.default', 'default')).toEqual({
      rateLimit: 50,
      rateWindowMs: 60_000,
      dailyQuota: 500,
    });
    expect(limitsOf(config, 'small.acme', 'acme')).toEqual({ rateLimit: 50, rateWindowMs: 1000, dailyQuota: 2000 });
    expect(limitsOf(config, 'big.acme', 'acme')).toEqual({ rateLimit: 5000, rateWindowMs: 1000, dailyQuota: 2000 });
    expect(limitsOf(config, 'off.acme', 'acme')).toEqual({ rateLimit: 0, rateWindowMs: 1000, dailyQuota: 0 });
    // An entry is for the client of that CN only: the same name in another domain is another client.
    expect(limitsOf(config, 'big.default', 'default')).toEqual({
      rateLimit: 50,
      rateWindowMs: 60_000,
      dailyQuota: 500,
    });
  });

  it('follows a reloaded domain: the new domain object carries the new limits, global ones included', () => {
    const before = load({ limits: { clients: { 'gw.default': { daily_quota: 5 } } } });
    expect(limitsOf(before, 'demo.default', 'default').rateLimit).toBe(100);
    const reloaded = load({ limits: { rate_limit: 7, clients: { 'gw.default': { daily_quota: 6 } } } });
    expect(limitsOf(reloaded, 'demo.default', 'default').rateLimit).toBe(7);
    expect(limitsOf(reloaded, 'gw.default', 'default')).toEqual({ rateLimit: 7, rateWindowMs: 60_000, dailyQuota: 6 });
  });

  it('reads per-client overrides from MB_LIMITS_CLIENTS (JSON) and refuses bad ones naming the key', () => {
    const config = load({}, { MB_LIMITS_CLIENTS: '{"gw.default":{"daily_quota":7}}' });
    expect(limitsOf(config, 'gw.default', 'default').dailyQuota).toBe(7);
    expect(() => load({ limits: { clients: { nodot: { rate_limit: 1 } } } })).toThrow(
      /limits\.clients\.nodot must be keyed by a client CN/,
    );
    expect(() => load({ limits: { clients: { 'a.b': { rate_limit: -1 } } } })).toThrow(ConfigError);
    expect(() => load({ limits: { clients: { 'a.b': { burst: 1 } } } })).toThrow(
      /limits\.clients\.a\.b\.burst is not a known setting/,
    );
    expect(() => load({ domains: [{ name: 'default', limits: { rate_window_ms: 10 } }] })).toThrow(
      /domains\[0\]\.limits\.rate_window_ms/,
    );
  });
});
