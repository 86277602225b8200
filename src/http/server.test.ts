import { Writable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { connect, type TLSSocket } from 'node:tls';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config/config.js';
import { LiveConfig } from '../config/live-config.js';
import type { HealthService } from '../health/health.service.js';
import { createLogger } from '../logger.js';
import { makeWorkdir, opensslCa, type Workdir } from '../pki/openssl.test-support.js';
import { IdentityResolver } from './client-identity.js';
import { buildServer, idleSocketTimeout, slowClientDeadlines, unsupportedTransferCoding } from './server.js';

describe('slowClientDeadlines', () => {
  it('bounds the handshake and the headers by headers_timeout_ms, the request by request_timeout_ms, and sweeps often enough', () => {
    expect(slowClientDeadlines({ headers_timeout_ms: 5000, request_timeout_ms: 10_000 })).toEqual({
      handshakeTimeout: 5000,
      headersTimeout: 5000,
      requestTimeout: 10_000,
      connectionsCheckingInterval: 1000,
    });
    expect(
      slowClientDeadlines({ headers_timeout_ms: 2000, request_timeout_ms: 4000 }).connectionsCheckingInterval,
    ).toBe(500);
  });

  it('caps the header deadline at the request deadline (Node refuses the other way round)', () => {
    expect(slowClientDeadlines({ headers_timeout_ms: 5000, request_timeout_ms: 300 })).toMatchObject({
      headersTimeout: 300,
      requestTimeout: 300,
      connectionsCheckingInterval: 75,
    });
  });

  it('lets a socket idle past the request deadline and two sweeps, so the sweep answers 408 first', () => {
    expect(idleSocketTimeout({ headers_timeout_ms: 5000, request_timeout_ms: 10_000 })).toBe(13_000);
  });
});

// ── The front over real TLS (a self-signed server certificate, a stand-in registry) ──────
const REQUEST_TIMEOUT_MS = 1000;
const logLines: Record<string, unknown>[] = [];
let work: Workdir;
let app: FastifyInstance;
let port: number;

beforeAll(async () => {
  work = makeWorkdir('mb-server-test-');
  const tls = opensslCa(work, '/CN=localhost', 'server');
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line) logLines.push(JSON.parse(line));
      done();
    },
  });
  // Every connection is client `a.default`: the routes get as far as reading the body.
  const row = {
    serial: '01',
    fingerprint: 'f',
    cert_status: 'active' as const,
    not_before: new Date(0),
    not_after: new Date(Date.now() + 86_400_000),
    client_id: 1,
    client_name: 'a',
    domain: 'default',
    client_status: 'active' as const,
  };
  app = buildServer({
    config: new LiveConfig(
      loadConfig({ values: { server: { request_timeout_ms: REQUEST_TIMEOUT_MS, headers_timeout_ms: 500 } }, env: {} }),
    ),
    logger: createLogger('info', {}, sink),
    identity: new IdentityResolver(
      async () => row,
      60_000,
      () => ({ present: true, authorized: true, fingerprint: 'f' }),
    ),
    ingest: {} as never,
    redis: {} as never,
    messages: {} as never,
    health: {} as HealthService,
    tls: { key: tls.keyPem, cert: tls.certPem, ca: tls.certPem },
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  port = (app.server.address() as { port: number }).port;
});
afterAll(async () => {
  await app?.close();
  work?.remove();
});

/** Writes `bytes` on a fresh TLS connection and collects everything until the server closes it. */
async function exchange(bytes: string | Buffer): Promise<{ received: string; lastedMs: number; socket: TLSSocket }> {
  const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false });
  socket.on('error', () => undefined);
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString('utf8')));
  await new Promise((resolve) => socket.once('secureConnect', resolve));
  const started = Date.now();
  socket.write(bytes);
  await new Promise((resolve) => socket.once('close', resolve));
  return { received, lastedMs: Date.now() - started, socket };
}

describe('a stalled request body', () => {
  it('is answered 408 REQUEST_TIMEOUT in the error schema, not cut silently, and logged as a timeout', async () => {
    const { received, lastedMs } = await exchange(
      'POST /api/v1/messages HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"a":',
    );
    expect(received).toMatch(/^HTTP\/1\.1 408 /);
    const body = JSON.parse(received.slice(received.indexOf('\r\n\r\n') + 4));
    expect(body).toMatchObject({ error_code: 'REQUEST_TIMEOUT', tracking_id: expect.any(String) });
    expect(lastedMs).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 50);
    expect(logLines.find((line) => line.tracking_id === body.tracking_id)).toMatchObject({
      error_code: 'REQUEST_TIMEOUT',
    });
    expect(logLines.filter((line) => line.error_code === 'MALFORMED_JSON')).toEqual([]);
  });
});

/** The status line and JSON body of the first answer in `received`. */
function firstAnswer(received: string): { status: number; body: Record<string, unknown> } {
  const head = received.slice(0, received.indexOf('\r\n\r\n'));
  const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
  const start = head.length + 4;
  return {
    status: Number(head.split(' ')[1]),
    body: JSON.parse(Buffer.from(received.slice(start)).subarray(0, length).toString()),
  };
}

describe('a transfer coding other than chunked', () => {
  it('is refused with 415 naming it, not read as a plain body', async () => {
    const gzipped = gzipSync(JSON.stringify({ sender_number: '+14155550123', message_body: 'hi' }));
    const { received } = await exchange(
      Buffer.concat([
        Buffer.from(
          'POST /api/v1/messages HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nConnection: close\r\n' +
            `Transfer-Encoding: gzip, chunked\r\n\r\n${gzipped.length.toString(16)}\r\n`,
        ),
        gzipped,
        Buffer.from('\r\n0\r\n\r\n'),
      ]),
    );
    expect(firstAnswer(received)).toMatchObject({
      status: 415,
      body: {
        error_code: 'UNSUPPORTED_MEDIA_TYPE',
        message:
          'Transfer-Encoding gzip, chunked is not supported: send the body as is, with a Content-Length or Transfer-Encoding: chunked',
      },
    });
  });

  it('lets chunked alone through, in any case', () => {
    expect(unsupportedTransferCoding(undefined)).toBeUndefined();
    expect(unsupportedTransferCoding('Chunked')).toBeUndefined();
    expect(unsupportedTransferCoding('chunked, chunked')?.code).toBe('UNSUPPORTED_MEDIA_TYPE');
  });
});

describe('a wrong method on the batch path', () => {
  it('is 405 with Allow: POST, as on the single route, not "No such message"', async () => {
    for (const [method, url, allow] of [
      ['GET', '/api/v1/messages/batch', 'POST'],
      ['DELETE', '/api/v1/messages/batch', 'POST'],
      ['GET', '/api/v1/messages', 'POST'],
    ] as const) {
      const response = await app.inject({ method, url });
      expect(response.statusCode, `${method} ${url}`).toBe(405);
      expect(response.headers.allow, `${method} ${url}`).toBe(allow);
      expect(response.json()).toMatchObject({
        error_code: 'METHOD_NOT_ALLOWED',
        message: `${method} is not allowed on ${url}; use ${allow}`,
      });
    }
  });
});

describe('requests Node would refuse without the error schema', () => {
  it('an HTTP/1.1 request without Host: 400 BAD_REQUEST in the schema, with X-Request-Id', async () => {
    const { received } = await exchange('GET /api/v1/messages/abc HTTP/1.1\r\nConnection: close\r\n\r\n');
    const answer = firstAnswer(received);
    expect(answer).toMatchObject({
      status: 400,
      body: { error_code: 'BAD_REQUEST', message: 'An HTTP/1.1 request needs a Host header' },
    });
    expect(received).toMatch(new RegExp(`x-request-id: ${String(answer.body.tracking_id)}`, 'i'));
  });

  it('CONNECT: 405 METHOD_NOT_ALLOWED in the schema with Allow, then the connection ends', async () => {
    const { received } = await exchange('CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n');
    expect(firstAnswer(received)).toMatchObject({
      status: 405,
      body: { error_code: 'METHOD_NOT_ALLOWED', message: 'CONNECT is not allowed: this server is not a proxy' },
    });
    expect(received).toMatch(/\r\nAllow: [A-Z, ]*POST/);
  });

  it("what Node's parser refuses: 400 BAD_REQUEST naming the parser's reason (Content-Length with Transfer-Encoding)", async () => {
    const { received } = await exchange(
      'POST /api/v1/messages HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n' +
        'Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}',
    );
    expect(firstAnswer(received)).toMatchObject({
      status: 400,
      body: {
        error_code: 'BAD_REQUEST',
        message: "The request is not valid HTTP/1.1: Transfer-Encoding can't be present with Content-Length",
      },
    });
  });

  it('an Expect other than 100-continue: 417 EXPECTATION_FAILED in the schema with X-Request-Id (Node alone sends a bare 417)', async () => {
    const body = '{"sender_number":"+14155550123","message_body":"x"}';
    const { received } = await exchange(
      'POST /api/v1/messages HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\n' +
        `Expect: 200-ok\r\nX-Request-Id: mine-1\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    );
    const answer = firstAnswer(received);
    expect(answer).toMatchObject({
      status: 417,
      body: {
        error_code: 'EXPECTATION_FAILED',
        message: 'Expect: 200-ok is not supported: send Expect: 100-continue or none',
      },
    });
    expect(received).toMatch(new RegExp(`x-request-id: ${String(answer.body.tracking_id)}`, 'i'));
    expect(received).toMatch(/x-client-request-id: mine-1/i);
  });
});

describe('a connection at the end of its lifetime (server.connection_max_lifetime_ms)', () => {
  let aged: FastifyInstance;
  let agedPort: number;
  beforeAll(async () => {
    const tls = opensslCa(work, '/CN=localhost', 'aged');
    aged = buildServer({
      config: new LiveConfig(loadConfig({ values: { server: { connection_max_lifetime_ms: 1000 } }, env: {} })),
      logger: createLogger('silent'),
      identity: new IdentityResolver(async () => undefined, 0),
      ingest: {} as never,
      redis: {} as never,
      messages: {} as never,
      health: {} as HealthService,
      tls: { key: tls.keyPem, cert: tls.certPem, ca: tls.certPem },
    });
    // Stands in for a submit still waiting on Redis when the connection comes of age.
    aged.get('/slow', async () => {
      await new Promise((resolve) => setTimeout(resolve, 1500));
      return { done: true };
    });
    await aged.listen({ host: '127.0.0.1', port: 0 });
    agedPort = (aged.server.address() as { port: number }).port;
  });
  afterAll(() => aged?.close());

  it('answers the request under way, with Connection: close, and then closes (a cut would lose a 202)', async () => {
    const socket = connect({ host: '127.0.0.1', port: agedPort, rejectUnauthorized: false });
    socket.on('error', () => undefined);
    let received = '';
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('utf8')));
    await new Promise((resolve) => socket.once('secureConnect', resolve));
    socket.write('GET /slow HTTP/1.1\r\nHost: localhost\r\n\r\n');
    await new Promise((resolve) => socket.once('close', resolve));
    expect(firstAnswer(received)).toMatchObject({ status: 200, body: { done: true } });
    expect(received).toMatch(/\r\nconnection: close\r\n/i);
  });

  it('closes an idle one', async () => {
    const socket = connect({ host: '127.0.0.1', port: agedPort, rejectUnauthorized: false });
    socket.on('error', () => undefined);
    await new Promise((resolve) => socket.once('secureConnect', resolve));
    const started = Date.now();
    await new Promise((resolve) => socket.once('close', resolve));
    expect(Date.now() - started).toBeLessThan(3000);
  });
});
