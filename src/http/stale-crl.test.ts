/**
 * The front over real TLS with a CRL past its nextUpdate (the CA has not re-signed it):
 * OpenSSL refuses every client certificate, but that is the broker's fault — the client is
 * told to try again (503 CRL_UNAVAILABLE), not that its certificate is not ours (401
 * CERT_UNTRUSTED), and its connection is closed so that its retry gets a fresh handshake.
 */
import { connect } from 'node:tls';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config/config.js';
import { LiveConfig } from '../config/live-config.js';
import type { HealthService } from '../health/health.service.js';
import { createLogger } from '../logger.js';
import { createCa } from '../pki/ca.js';
import { buildCrl } from '../pki/crl.js';
import { issueClientCertificate, issueServerCertificate } from '../pki/issue.js';
import type { CaMaterial, IssuedCertificate } from '../pki/pki.types.js';
import { IdentityResolver } from './client-identity.js';
import { buildServer } from './server.js';

const DAY = 86_400_000;
let ca: CaMaterial;
let client: IssuedCertificate;
let app: FastifyInstance;
let port: number;

beforeAll(async () => {
  ca = createCa({ commonName: 'Stale CRL Test CA', days: 30 });
  const server = issueServerCertificate(ca, { commonName: 'localhost', hostnames: ['localhost'], days: 30 });
  client = issueClientCertificate(ca, { commonName: 'a.default', days: 30 });
  const staleCrl = buildCrl(ca, {
    revoked: [],
    thisUpdate: new Date(Date.now() - 8 * DAY),
    nextUpdate: new Date(Date.now() - DAY),
    crlNumber: 3,
  });
  const row = {
    serial: client.serialHex,
    fingerprint: client.fingerprint256.toLowerCase(),
    cert_status: 'active' as const,
    not_before: client.notBefore,
    not_after: client.notAfter,
    client_id: 1,
    client_name: 'a',
    domain: 'default',
    client_status: 'active' as const,
  };
  app = buildServer({
    config: new LiveConfig(loadConfig({ values: {}, env: {} })),
    logger: createLogger('silent'),
    // The real peer certificate of each socket: what OpenSSL said of it decides.
    identity: new IdentityResolver(async (fingerprint) => (fingerprint === row.fingerprint ? row : undefined), 60_000),
    ingest: {} as never,
    redis: {} as never,
    messages: {} as never,
    health: {} as HealthService,
    tls: { key: server.keyPem, cert: server.certPem, ca: ca.certPem, crl: staleCrl },
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  port = (app.server.address() as { port: number }).port;
});

afterAll(async () => {
  await app?.close();
});

/** One keep-alive request with the client certificate; what came back, and whether the server closed. */
async function request(): Promise<{ status: number; connection?: string; body: Record<string, unknown> }> {
  const socket = connect({
    host: '127.0.0.1',
    port,
    ca: ca.certPem,
    servername: 'localhost',
    cert: client.certPem,
    key: client.keyPem,
  });
  socket.on('error', () => undefined);
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString('utf8')));
  await new Promise((resolve) => socket.once('secureConnect', resolve));
  socket.write(
    `GET /api/v1/messages/${'0'.repeat(8)}-0000-7000-8000-${'0'.repeat(12)} HTTP/1.1\r\nHost: localhost\r\n\r\n`,
  );
  // The answer ends with the connection when the server closes it; a kept one is cut here.
  await new Promise((resolve) => {
    socket.once('close', resolve);
    setTimeout(resolve, 3000).unref();
  });
  socket.destroy();
  const head = received.slice(0, received.indexOf('\r\n\r\n'));
  return {
    status: Number(head.split(' ')[1]),
    connection: /\r\nconnection: ([^\r]+)/i.exec(head)?.[1]?.toLowerCase(),
    body: JSON.parse(received.slice(head.length + 4)) as Record<string, unknown>,
  };
}

describe('a CRL past its nextUpdate', () => {
  it('refuses a registered client with 503 CRL_UNAVAILABLE (not 401 CERT_UNTRUSTED) and closes its connection', async () => {
    const answer = await request();
    expect(answer.status).toBe(503);
    expect(answer.body).toMatchObject({ error_code: 'CRL_UNAVAILABLE', details: { tls_error: 'CRL_HAS_EXPIRED' } });
    // The socket's verification never changes: a retry needs a new handshake, against a fresh CRL.
    expect(answer.connection).toBe('close');
  });
});
