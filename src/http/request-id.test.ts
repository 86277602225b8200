/**
 * Tracking ids are the server's: a client's X-Request-Id can never make two requests share
 * one (nor pick the id an operator searches the log for). The client's id is kept apart:
 * echoed as X-Client-Request-Id and logged as `client_request_id`.
 */
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config/config.js';
import { LiveConfig } from '../config/live-config.js';
import type { HealthService } from '../health/health.service.js';
import { createLogger } from '../logger.js';
import { IdentityResolver } from './client-identity.js';
import { buildServer } from './server.js';

const lines: Record<string, unknown>[] = [];
let app: FastifyInstance;

beforeAll(async () => {
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  app = buildServer({
    config: new LiveConfig(loadConfig({ values: {}, env: {} })),
    logger: createLogger('info', {}, sink),
    identity: new IdentityResolver(
      async () => undefined,
      0,
      () => ({ present: false, authorized: false }),
    ),
    ingest: {} as never,
    redis: {} as never,
    messages: {} as never,
    health: { readiness: async () => ({ ready: true, reasons: [] }) } as unknown as HealthService,
  });
  await app.ready();
});
afterAll(() => app?.close());

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('X-Request-Id and the tracking id', () => {
  it('gives two requests with the same client id two different tracking ids, and echoes the client id apart', async () => {
    const send = () => app.inject({ method: 'GET', url: '/no/such/route', headers: { 'x-request-id': 'shared-4711' } });
    const [a, b] = [await send(), await send()];
    for (const response of [a, b]) {
      expect(response.statusCode).toBe(404);
      expect(response.json().tracking_id).toMatch(UUID);
      expect(response.headers['x-request-id']).toBe(response.json().tracking_id);
      expect(response.headers['x-client-request-id']).toBe('shared-4711');
    }
    expect(a.json().tracking_id).not.toBe(b.json().tracking_id);
  });

  it('logs the client id as client_request_id beside the server tracking id', async () => {
    const response = await app.inject({
      method: 'GET',
      url: '/no/such/route',
      headers: { 'x-request-id': 'trace-me-4711' },
    });
    const trackingId = response.json().tracking_id as string;
    const line = lines.find((l) => l.tracking_id === trackingId);
    expect(line).toMatchObject({ tracking_id: trackingId, client_request_id: 'trace-me-4711' });
  });

  it('does not echo a hostile client id', async () => {
    const response = await app.inject({
      method: 'GET',
      url: '/no/such/route',
      headers: { 'x-request-id': '<script>alert(1)</script>' },
    });
    expect(response.json().tracking_id).toMatch(UUID);
    expect(response.headers['x-client-request-id']).toBeUndefined();
  });

  it('puts the ids on an error answered before routing (a malformed URL) and on one thrown by a route', async () => {
    const badUrl = await app.inject({
      method: 'GET',
      url: '/api/v1/messages/%zz',
      headers: { 'x-request-id': 'bad-url-1' },
    });
    expect(badUrl.statusCode).toBe(400);
    expect(badUrl.headers['x-request-id']).toBe(badUrl.json().tracking_id);
    expect(badUrl.headers['x-client-request-id']).toBe('bad-url-1');
    const refused = await app.inject({
      method: 'POST',
      url: '/api/v1/messages',
      payload: { sender_number: '+14155550123', message_body: 'hi' },
      headers: { 'x-request-id': 'no-cert-2' },
    });
    expect(refused.statusCode).toBe(401);
    expect(refused.headers['x-request-id']).toBe(refused.json().tracking_id);
    expect(refused.headers['x-client-request-id']).toBe('no-cert-2');
  });
});
