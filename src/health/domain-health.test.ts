import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config/config.js';
import { domainsHealth } from './domain-health.js';

const NOW = Date.parse('2026-06-01T00:00:00Z');
const inDays = (days: number) => new Date(NOW + days * 86_400_000 + 3_600_000);
const webhook = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  target: { type: 'webhook', url: `https://${name}.example/hook`, secret: 'x'.repeat(32), ...extra },
});
const config = loadConfig({
  values: {
    domains: [
      { name: 'default' },
      webhook('acme'),
      webhook('beta', { url: 'http://beta.internal/hook', allow_insecure_http: true }),
      { name: 'paused', operational: false },
      { name: 'closed', active: false },
      { name: 'monitoring', active: false },
      {
        // A routed domain whose default target is a store archive, beside a plain amqp:// one.
        name: 'routed',
        targets: {
          archive: { type: 'store' },
          rabbit: { type: 'amqp', url: 'amqp://rabbit.internal/sms', exchange: 'sms', allow_insecure_amqp: true },
        },
        routes: [{ name: 'uk', match: { sender_prefix: '+44' }, target: 'rabbit' }, { target: 'archive' }],
      },
    ],
    metrics: { client_names: ['prom.monitoring'] },
  },
  env: {},
});

describe('domainsHealth', () => {
  it('is up with no reasons for a domain with nothing wrong', () => {
    const health = domainsHealth({ config, certificates: [], downstreams: [], now: NOW });
    expect(health.default).toEqual({ status: 'up', reasons: [] });
    expect(health.acme).toEqual({ status: 'up', reasons: [] });
    // Inactive by design: it holds the metrics scrapers.
    expect(health.monitoring).toEqual({ status: 'up', reasons: [] });
    expect(Object.keys(health).sort()).toEqual(['acme', 'beta', 'closed', 'default', 'monitoring', 'paused', 'routed']);
  });

  it('names each per-domain condition as a reason', () => {
    const health = domainsHealth({
      config,
      certificates: [
        { domain: 'acme', common_name: 'alice.acme', not_after: inDays(3) },
        { domain: 'acme', common_name: 'bob.acme', not_after: inDays(5) },
        { domain: 'default', common_name: 'later.default', not_after: inDays(20) },
      ],
      downstreams: [{ domain: 'acme', operational: true, breaker: { state: 'open' } as never }],
      now: NOW,
    });
    expect(health.acme).toEqual({
      status: 'degraded',
      reasons: [
        'webhook circuit breaker open',
        'client certificate alice.acme expires in 3 days (and 1 more within 7 days)',
      ],
    });
    // 20 days: the metric warns, health does not.
    expect(health.default).toEqual({ status: 'up', reasons: [] });
    expect(health.beta?.status).toBe('degraded');
    expect(health.beta?.reasons).toEqual([
      'webhook target over plain http (allow_insecure_http): bodies travel in clear',
    ]);
    expect(health.paused?.reasons).toEqual(['paused: deliveries wait (operational: false)']);
    expect(health.closed?.reasons).toEqual(['inactive: submissions are refused (active: false)']);
  });

  it('says nothing of certificates or breakers it could not read', () => {
    const health = domainsHealth({ config, certificates: undefined, downstreams: undefined, now: NOW });
    expect(health.acme).toEqual({ status: 'up', reasons: [] });
  });

  it('names an amqp target as amqp, not as a webhook, whichever target is the default', () => {
    const health = domainsHealth({
      config,
      certificates: [],
      downstreams: [{ domain: 'routed', target: 'rabbit', operational: true, breaker: { state: 'open' } as never }],
      now: NOW,
    });
    expect(health.routed?.reasons).toEqual([
      'amqp target over plain amqp:// (allow_insecure_amqp): bodies travel in clear',
      'amqp circuit breaker of target rabbit open',
    ]);
  });
});
