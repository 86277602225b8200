import { describe, expect, it } from 'vitest';
import { configFingerprint, configSectionFingerprints, differingConfigKeys } from './config-fingerprint.js';
import { loadConfig } from './config.js';

const load = (values: Record<string, unknown>) => loadConfig({ values, env: {} });

describe('configFingerprint', () => {
  it('is a sha256 that is stable for the same settings, whatever their order in the file', () => {
    const a = load({ delivery: { max_attempts: 7, retry_interval_ms: 5000 }, queue: { fsync: 'always' } });
    const b = load({ queue: { fsync: 'always' }, delivery: { retry_interval_ms: 5000, max_attempts: 7 } });
    expect(configFingerprint(a)).toMatch(/^[0-9a-f]{64}$/);
    expect(configFingerprint(a)).toBe(configFingerprint(b));
  });

  it('ignores what legitimately differs between instances', () => {
    const base = configFingerprint(load({}));
    const other = load({
      instance_id: 'host-b',
      server: { host: '10.0.0.2', port: 9443, public_hostnames: ['b.example'] },
      redis: { url: 'redis://10.0.0.9:6379', embedded: 'never' },
      database: { url: 'mysql://broker:secret@10.0.0.8/message_broker', pool_size: 30, embedded: 'never' },
      data: { dir: '/srv/b' },
      secrets: { dir: '/srv/b/secrets' },
      pki: { dir: '/srv/b/certs' },
      log: { level: 'debug' },
      bootstrap: { demo_client: false },
      heartbeat: { interval_ms: 2000 },
    });
    expect(configFingerprint(other)).toBe(base);
  });

  it.each([
    ['a limit', { limits: { rate_limit: 50 } }],
    ['a per-client override', { limits: { clients: { 'demo.default': { daily_quota: 5 } } } }],
    ['the retry policy', { delivery: { max_attempts: 9 } }],
    ['the key prefix', { redis: { key_prefix: 'other:' } }],
    ['the domains', { domains: [{ name: 'default' }, { name: 'acme' }] }],
  ])('changes with %s', (_what, values) => {
    expect(configFingerprint(load(values))).not.toBe(configFingerprint(load({})));
  });

  it('is the same for two files that resolve to the same settings (it hashes the effective config)', () => {
    const inherits = load({
      domains: [{ name: 'default', max_attempts: 0, backoff: 'inherit', retention_days: -1, limits: {} }],
    });
    const spelledOut = load({
      domains: [
        {
          name: 'default',
          max_attempts: 5,
          backoff: 'fixed',
          retention_days: 0,
          limits: { rate_limit: 100, rate_window_ms: 60_000, daily_quota: 10_000 },
        },
      ],
    });
    expect(configFingerprint(spelledOut)).toBe(configFingerprint(inherits));
    expect(configFingerprint(spelledOut)).toBe(configFingerprint(load({})));
  });

  it('changes with a webhook secret (instances would sign differently)', () => {
    const webhook = (secret: string) =>
      load({ domains: [{ name: 'default', target: { type: 'webhook', url: 'https://x.example', secret } }] });
    expect(configFingerprint(webhook('one'))).not.toBe(configFingerprint(webhook('two')));
  });
});

describe('configSectionFingerprints', () => {
  const differ = (a: Record<string, unknown>, b: Record<string, unknown>) =>
    differingConfigKeys(configSectionFingerprints(load(a)), configSectionFingerprints(load(b)));

  it('names the keys that differ, per key of a section and per domain', () => {
    // The default domain inherits max_attempts: its effective settings differ too.
    expect(differ({}, { delivery: { max_attempts: 9 } })).toEqual(['delivery.max_attempts', 'domains.default']);
    expect(differ({}, { queue: { max_batch: 50 } })).toEqual(['queue.max_batch']);
    // Limits resolve into each domain: a changed global limit names the domains it reaches.
    expect(differ({}, { limits: { rate_limit: 50 } })).toEqual(['domains.default']);
    expect(differ({}, { domains: [{ name: 'default' }, { name: 'acme' }] })).toEqual(['domains.acme']);
    expect(
      differ(
        { domains: [{ name: 'default' }, { name: 'acme', max_attempts: 2 }] },
        { domains: [{ name: 'default' }, { name: 'acme', max_attempts: 3 }] },
      ),
    ).toEqual(['domains.acme']);
  });

  it('ignores what legitimately differs, like the fingerprint', () => {
    expect(differ({}, { instance_id: 'b', server: { port: 9443 }, log: { level: 'debug' } })).toEqual([]);
  });

  it('carries key paths and short hashes only, never a value', () => {
    const secret = 'webhook-secret-value-0123456789';
    const sections = configSectionFingerprints(
      load({
        domains: [{ name: 'default', target: { type: 'webhook', url: 'https://hook.example/x', secret } }],
        delivery: { max_attempts: 7 },
      }),
    );
    const text = JSON.stringify(sections);
    for (const value of [secret, 'hook.example']) expect(text).not.toContain(value);
    for (const hash of Object.values(sections)) expect(hash).toMatch(/^[0-9a-f]{16}$/);
    expect(Object.keys(sections)).toContain('domains.default');
    expect(Object.keys(sections).some((key) => key.endsWith('.secret'))).toBe(false);
  });

  it('tells secrets apart, through a slow hash', () => {
    const webhook = (secret: string) => ({
      domains: [{ name: 'default', target: { type: 'webhook', url: 'https://x.example', secret } }],
    });
    expect(differ(webhook('one-secret'), webhook('two-secret'))).toEqual(['domains.default']);
    expect(differ({ redis: { sentinel_password: 'a' } }, { redis: { sentinel_password: 'b' } })).toEqual([
      'redis.sentinel_password',
    ]);
    expect(differ(webhook('same-secret'), webhook('same-secret'))).toEqual([]);
  });
});
