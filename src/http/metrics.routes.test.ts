/**
 * The front's side of observability through `inject()`: who may read /metrics, and what
 * the request hooks count (route pattern, not raw URL; refusals by error code).
 */
import type { FastifyInstance } from 'fastify';
import { AggregatorRegistry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config/config.js';
import { LiveConfig } from '../config/live-config.js';
import type { HealthService } from '../health/health.service.js';
import { createLogger } from '../logger.js';
import { readFastFamilies } from '../metrics/fast-series.js';
import { IdentityResolver, type IdentityRow, type PeerCertificate } from './client-identity.js';
import { isLoopback } from './metrics.routes.js';
import { buildServer } from './server.js';

const rows: Record<string, IdentityRow> = {
  aa: row('metrics', 'ops'),
  bb: row('demo', 'default'),
  // A tenant admin's own client named "metrics" in their message-accepting domain (issue #17).
  dd: row('metrics', 'default', 'dd'),
};
let peer: PeerCertificate = { present: false, authorized: false };
let app: FastifyInstance;
/** This thread's own families, as /metrics would show them. */
const render = () => AggregatorRegistry.aggregate([readFastFamilies()]).metrics();

function row(client_name: string, domain: string, fingerprint = client_name): IdentityRow {
  const day = 86_400_000;
  return {
    serial: `${fingerprint}-serial`,
    fingerprint,
    cert_status: 'active',
    not_before: new Date(Date.now() - day),
    not_after: new Date(Date.now() + day),
    client_id: client_name.length,
    client_name,
    domain,
    client_status: 'active',
  };
}

function presenting(fingerprint: string, commonName: string): PeerCertificate {
  return { present: true, authorized: true, fingerprint, commonName };
}

beforeAll(async () => {
  const config = loadConfig({
    values: {
      metrics: { client_names: ['metrics.ops'] },
      domains: [{ name: 'default' }, { name: 'ops', active: false }],
    },
    env: {},
  });
  app = buildServer({
    config: new LiveConfig(config),
    logger: createLogger('silent'),
    identity: new IdentityResolver(
      async (fp) => rows[fp],
      0,
      () => peer,
    ),
    ingest: {
      enqueue: async (request) => ({
        ok: true,
        kind: 'done',
        positions: request.messages.map(() => 1),
        rate: null,
        quota: null,
      }),
    },
    redis: {} as never,
    messages: {} as never,
    health: {
      readiness: async () => ({ ready: true, reasons: [] }),
      report: async () => ({
        status: 'up',
        instance_id: 'host-1',
        version: 'test',
        uptime_s: 1,
        components: { client_certificates: { status: 'up', expiring: [{ common_name: 'demo.default' }] } },
      }),
    } as unknown as HealthService,
    metrics: { render, contentType: 'text/plain; version=0.0.4; charset=utf-8' },
  });
  await app.ready();
});
afterAll(() => app?.close());

const scrape = (remoteAddress: string) => app.inject({ method: 'GET', url: '/metrics', remoteAddress });

describe('GET /metrics access', () => {
  it('is open to loopback without a certificate', async () => {
    peer = { present: false, authorized: false };
    const response = await scrape('127.0.0.1');
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toContain('text/plain');
    expect(response.body).toContain('proxy_requests_total');
  });

  it('refuses others without a certificate with 401 in the error schema', async () => {
    peer = { present: false, authorized: false };
    const response = await scrape('10.1.2.3');
    expect(response.statusCode).toBe(401);
    expect(response.json()).toMatchObject({
      error_code: 'UNAUTHORIZED',
      tracking_id: expect.any(String),
      timestamp: expect.any(String),
    });
  });

  it('refuses an ordinary client certificate with 403', async () => {
    peer = presenting('bb', 'demo.default');
    const response = await scrape('10.1.2.3');
    expect(response.statusCode).toBe(403);
    expect(response.json().error_code).toBe('METRICS_FORBIDDEN');
  });

  it('refuses an unregistered certificate with 403', async () => {
    peer = presenting('cc', 'metrics.ops');
    expect((await scrape('10.1.2.3')).json().error_code).toBe('CERT_UNKNOWN');
  });

  it('refuses a client named "metrics" in a tenant domain: identities are full CNs', async () => {
    peer = presenting('dd', 'metrics.default');
    const response = await scrape('10.1.2.3');
    expect(response.statusCode).toBe(403);
    expect(response.json().error_code).toBe('METRICS_FORBIDDEN');
  });

  it('lets a metrics identity of our CA in', async () => {
    peer = presenting('aa', 'metrics.ops');
    expect((await scrape('10.1.2.3')).statusCode).toBe(200);
  });

  it('knows loopback addresses', () => {
    expect(['127.0.0.1', '127.8.0.1', '::1', '::ffff:127.0.0.1'].every(isLoopback)).toBe(true);
    expect(['10.0.0.1', '::ffff:10.0.0.1', '1127.0.0.1', ''].some(isLoopback)).toBe(false);
  });
});

describe('health details (issue #17): for the same operators as /metrics', () => {
  const health = () => app.inject({ method: 'GET', url: '/api/v1/health', remoteAddress: '10.1.2.3' });

  it('a metrics identity sees them from a non-loopback address', async () => {
    peer = presenting('aa', 'metrics.ops');
    expect((await health()).json().instance_id).toBe('host-1');
  });

  it('a tenant certificate, also one named "metrics", or none at all gets statuses only', async () => {
    for (const who of [
      presenting('bb', 'demo.default'),
      presenting('dd', 'metrics.default'),
      { present: false, authorized: false },
    ]) {
      peer = who;
      const response = await health();
      expect(response.statusCode).toBe(200);
      expect(response.json()).toEqual({ status: 'up', components: { client_certificates: { status: 'up' } } });
    }
  });
});

describe('request metrics', () => {
  const sample = async (line: string): Promise<number> => {
    const text = await render();
    const found = text.split('\n').find((l) => l.startsWith(`${line} `));
    return found ? Number(found.split(' ').pop()) : 0;
  };

  it('counts by route pattern and status; unknown paths as "unmatched", never the raw URL', async () => {
    const before = await sample('proxy_requests_total{method="GET",endpoint="unmatched",status="404"}');
    await app.inject({ method: 'GET', url: '/no/such/path/12345' });
    expect(await sample('proxy_requests_total{method="GET",endpoint="unmatched",status="404"}')).toBe(before + 1);
    expect(await render()).not.toContain('/no/such/path');
  });

  it('counts accepted messages per domain and refused ones by error code, and certificate checks by result', async () => {
    peer = presenting('bb', 'demo.default');
    const accepted = await sample('proxy_messages_enqueued_total{domain="default"}');
    const invalid = await sample('proxy_messages_failed_total{reason="INVALID_PAYLOAD"}');
    const valid = await sample('proxy_certificate_validations_total{result="valid"}');
    const post = (body: unknown) =>
      app.inject({ method: 'POST', url: '/api/v1/messages', payload: body as object, remoteAddress: '10.9.9.9' });
    expect((await post({ sender_number: '+14155550123', message_body: 'hi' })).statusCode).toBe(202);
    expect((await post({ sender_number: 'nope', message_body: 'hi' })).statusCode).toBe(422);
    peer = presenting('zz', 'who.default');
    expect((await post({ sender_number: '+14155550123', message_body: 'hi' })).statusCode).toBe(403);
    expect(await sample('proxy_messages_enqueued_total{domain="default"}')).toBe(accepted + 1);
    expect(await sample('proxy_messages_failed_total{reason="INVALID_PAYLOAD"}')).toBe(invalid + 1);
    expect(await sample('proxy_messages_failed_total{reason="CERT_UNKNOWN"}')).toBeGreaterThanOrEqual(1);
    expect(await sample('proxy_certificate_validations_total{result="valid"}')).toBe(valid + 2);
    expect(await sample('proxy_certificate_validations_total{result="CERT_UNKNOWN"}')).toBeGreaterThanOrEqual(1);
  });

  it('counts a batch per message: each queued item once, each refused item under its code', async () => {
    peer = presenting('bb', 'demo.default');
    const accepted = await sample('proxy_messages_enqueued_total{domain="default"}');
    const invalid = await sample('proxy_messages_failed_total{reason="INVALID_PAYLOAD"}');
    const batch = (messages: unknown[]) =>
      app.inject({ method: 'POST', url: '/api/v1/messages/batch', payload: { messages }, remoteAddress: '10.9.9.9' });
    const valid = { sender_number: '+14155550123', message_body: 'hi' };
    const mixed = await batch([valid, { ...valid, sender_number: 'nope' }, valid]);
    expect(mixed.statusCode).toBe(207);
    expect(mixed.json()).toMatchObject({ accepted: 2, refused: 1 });
    expect(await sample('proxy_messages_enqueued_total{domain="default"}')).toBe(accepted + 2);
    expect(await sample('proxy_messages_failed_total{reason="INVALID_PAYLOAD"}')).toBe(invalid + 1);
    // No valid item: a 207 all the same, each item refused.
    expect((await batch([{ sender_number: 'x' }, { message_body: 'y' }])).statusCode).toBe(207);
    expect(await sample('proxy_messages_failed_total{reason="INVALID_PAYLOAD"}')).toBe(invalid + 3);
    // A refused envelope: every message it carried.
    const tooMany = await batch(Array.from({ length: 101 }, () => valid));
    expect(tooMany.statusCode).toBe(422);
    expect(await sample('proxy_messages_failed_total{reason="INVALID_PAYLOAD"}')).toBe(invalid + 104);
    expect(await sample('proxy_messages_enqueued_total{domain="default"}')).toBe(accepted + 2);
  });

  it('shows the counters at 0 for every known label value before anything happened', async () => {
    const text = await render();
    for (const line of [
      'proxy_messages_enqueued_total{domain="ops"} 0',
      'proxy_messages_failed_total{reason="TOO_MANY_REQUESTS"} 0',
      'proxy_messages_failed_total{reason="QUOTA_EXCEEDED"} 0',
      'proxy_messages_failed_total{reason="QUEUE_UNAVAILABLE"} 0',
      'proxy_messages_failed_total{reason="CERT_REVOKED"} 0',
      'proxy_certificate_validations_total{result="CERT_REVOKED"} 0',
      'proxy_certificate_validations_total{result="CERT_EXPIRED"} 0',
      'proxy_requests_total{method="POST",endpoint="/api/v1/messages/batch",status="207"}',
    ])
      expect(text).toContain(line);
  });
});
