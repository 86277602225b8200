/**
 * The TLS reloader on a real TLS server: a handshake with a certificate the CRL revokes is
 * cut — and, since that client gets no answer, counted and logged for the operator.
 */
import { X509Certificate } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { connect, createServer, type Server } from 'node:tls';
import { AggregatorRegistry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../logger.js';
import { readFastFamilies } from '../metrics/fast-series.js';
import { createCa } from '../pki/ca.js';
import { buildCrl } from '../pki/crl.js';
import { issueClientCertificate, issueServerCertificate } from '../pki/issue.js';
import { normalizeSerialHex } from '../pki/serial.js';
import type { CaMaterial, IssuedCertificate } from '../pki/pki.types.js';
import { TlsReloader } from './tls-reloader.js';

const DAY = 86_400_000;
const lines: Array<Record<string, unknown>> = [];
const sink = new Writable({
  write(chunk: Buffer, _encoding, done) {
    for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line));
    done();
  },
});

let ca: CaMaterial;
let revoked: IssuedCertificate;
let kept: IssuedCertificate;
let server: Server;
let port: number;
/** What the server saw of each connection that got through to the routes. */
const reachedRoutes: string[] = [];

const revokedCount = async (): Promise<number> => {
  const text = await AggregatorRegistry.aggregate([readFastFamilies()]).metrics();
  const line = text
    .split('\n')
    .find((l) => l.startsWith('proxy_certificate_validations_total{result="CERT_REVOKED"} '));
  return line ? Number(line.split(' ').pop()) : 0;
};

/** Connects with a client certificate; resolves with whether the server answered or cut the connection. */
function handshake(client: IssuedCertificate): Promise<'answered' | 'cut'> {
  return new Promise((resolve) => {
    const socket = connect({
      host: '127.0.0.1',
      port,
      ca: ca.certPem,
      servername: 'localhost',
      cert: client.certPem,
      key: client.keyPem,
    });
    socket.once('data', () => {
      socket.destroy();
      resolve('answered');
    });
    socket.once('error', () => resolve('cut'));
    socket.once('close', () => resolve('cut'));
  });
}

beforeAll(async () => {
  ca = createCa({ commonName: 'Reloader Test CA', days: 30 });
  const serverCert = issueServerCertificate(ca, { commonName: 'localhost', hostnames: ['localhost'], days: 30 });
  revoked = issueClientCertificate(ca, { commonName: 'gone.acme', days: 30 });
  kept = issueClientCertificate(ca, { commonName: 'kept.acme', days: 30 });
  const crl = buildCrl(ca, {
    revoked: [{ serialHex: revoked.serialHex, revokedAt: new Date() }],
    thisUpdate: new Date(Date.now() - 60_000),
    nextUpdate: new Date(Date.now() + 7 * DAY),
    crlNumber: 2,
  });
  const reloader = new TlsReloader(
    { key: serverCert.keyPem, cert: serverCert.certPem, ca: ca.certPem, crl },
    'TLSv1.2',
    createLogger('info', {}, sink),
  );
  const { key, cert, ca: caPem } = reloader.material;
  server = createServer({ key, cert, ca: caPem, crl, requestCert: true, rejectUnauthorized: false });
  reloader.attach(server);
  // What the front would do: answer whoever the reloader let through.
  server.on('secureConnection', (socket) => {
    if (socket.destroyed) return;
    reachedRoutes.push(String(socket.getPeerX509Certificate()?.subject));
    socket.end('hello');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

describe('TlsReloader', () => {
  it('cuts a handshake with a revoked certificate, counts it as CERT_REVOKED and logs what it cut', async () => {
    const before = await revokedCount();
    expect(await handshake(revoked)).toBe('cut');
    expect(reachedRoutes.join()).not.toContain('gone.acme');
    expect(await revokedCount()).toBe(before + 1);
    const line = lines.find((l) => l['msg'] === 'handshake with a revoked certificate cut');
    expect(line).toMatchObject({
      error_code: 'CERT_REVOKED',
      client: 'gone.acme',
      serial: normalizeSerialHex(new X509Certificate(revoked.certPem).serialNumber),
      fingerprint: revoked.fingerprint256.toLowerCase(),
      remote_address: '127.0.0.1',
    });
  });

  it('lets every other certificate through to the routes, uncounted', async () => {
    const before = await revokedCount();
    expect(await handshake(kept)).toBe('answered');
    expect(reachedRoutes.join()).toContain('kept.acme');
    expect(await revokedCount()).toBe(before);
  });
});
