import { once } from 'node:events';
import { connect, createServer } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrokerError } from '../errors.js';
import { createCa } from './ca.js';
import { buildCrl, isCrlIssuedBy, parseCrl } from './crl.js';
import { issueClientCertificate, issueServerCertificate } from './issue.js';
import { makeWorkdir, openssl, opensslCa } from './openssl.test-support.js';
import type { Workdir } from './openssl.test-support.js';
import type { CaMaterial, CertificateKeyPair, IssuedCertificate } from './pki.types.js';

const HOUR = 3_600_000;
let work: Workdir;
let ca: CaMaterial;
let caPath: string;
let good: IssuedCertificate;
let revokedA: IssuedCertificate;
let revokedB: IssuedCertificate;
let crlPem: string;
const thisUpdate = new Date(Date.now() - HOUR);
const nextUpdate = new Date(Date.now() + 24 * HOUR);

beforeAll(() => {
  work = makeWorkdir();
  ca = createCa({ commonName: 'CRL Test CA', days: 3650 });
  caPath = work.write('ca.crt', ca.certPem);
  good = issueClientCertificate(ca, { commonName: 'good.example' });
  revokedA = issueClientCertificate(ca, { commonName: 'lost-laptop.example' });
  revokedB = issueClientCertificate(ca, { commonName: 'renewed.example' });
  crlPem = buildCrl(ca, {
    revoked: [
      { serialHex: revokedA.serialHex, revokedAt: new Date(Date.now() - 30 * 60_000), reason: 'keyCompromise' },
      {
        serialHex: revokedB.serialHex.toUpperCase(),
        revokedAt: new Date(Date.now() - 10 * 60_000),
        reason: 'superseded',
      },
    ],
    thisUpdate,
    nextUpdate,
    crlNumber: 7,
  });
});

afterAll(() => work.remove());

describe('buildCrl', () => {
  it('produces an empty CRL that openssl accepts', () => {
    const empty = buildCrl(ca, { revoked: [], thisUpdate, nextUpdate, crlNumber: 1 });
    const path = work.write('empty.pem', empty);
    const result = openssl(['crl', '-in', path, '-CAfile', caPath, '-noout', '-verify']);
    expect(result.output).toContain('verify OK');
    expect(result.status).toBe(0);
    const text = openssl(['crl', '-in', path, '-noout', '-text']).stdout;
    expect(text).toContain('No Revoked Certificates.');
    expect(text).toContain('Version 2 (0x1)');
    expect(parseCrl(empty).revokedSerials).toEqual([]);
  });

  it('produces a CRL with two revocations that openssl accepts and lists with reasons', () => {
    const path = work.write('crl.pem', crlPem);
    expect(openssl(['crl', '-in', path, '-CAfile', caPath, '-noout', '-verify']).output).toContain('verify OK');
    const text = openssl(['crl', '-in', path, '-noout', '-text']).stdout;
    expect(text).toMatch(/Issuer: O = Message Broker, CN = CRL Test CA/);
    expect(text).toMatch(/CRL Number:\s*\n\s+7\n/);
    expect(text).toContain('Authority Key Identifier');
    const listed = [...text.matchAll(/Serial Number: ([0-9A-F]+)/g)].map((m) => m[1]!.toLowerCase());
    expect(listed).toEqual([revokedA.serialHex, revokedB.serialHex]);
    expect(text).toMatch(/CRL Reason Code:\s*\n\s+Key Compromise/);
    expect(text).toMatch(/CRL Reason Code:\s*\n\s+Superseded/);
  });

  it('makes openssl verify -crl_check refuse revoked certificates and pass the others', () => {
    const crlPath = work.write('crl.pem', crlPem);
    const check = (cert: IssuedCertificate) =>
      openssl([
        'verify',
        '-crl_check',
        '-CRLfile',
        crlPath,
        '-CAfile',
        caPath,
        work.write(`${cert.commonName}.crt`, cert.certPem),
      ]);
    expect(check(good).status).toBe(0);
    for (const revoked of [revokedA, revokedB]) {
      const result = check(revoked);
      expect(result.status).not.toBe(0);
      expect(result.output).toContain('certificate revoked');
    }
  });

  it('round-trips through parseCrl, dates truncated to the second', () => {
    const parsed = parseCrl(crlPem);
    expect(parsed.crlNumber).toBe(7);
    expect(parsed.thisUpdate.getTime()).toBe(Math.floor(thisUpdate.getTime() / 1000) * 1000);
    expect(parsed.nextUpdate.getTime()).toBe(Math.floor(nextUpdate.getTime() / 1000) * 1000);
    expect(parsed.revokedSerials).toEqual([revokedA.serialHex, revokedB.serialHex]);
    expect(parsed.revoked.map((entry) => entry.reason)).toEqual(['keyCompromise', 'superseded']);
  });

  it('encodes serials with the high bit set and short serials correctly', () => {
    const pem = buildCrl(ca, {
      revoked: [
        { serialHex: '8f', revokedAt: thisUpdate },
        { serialHex: '0A:0b', revokedAt: thisUpdate, reason: 'privilegeWithdrawn' },
      ],
      thisUpdate,
      nextUpdate,
      crlNumber: 2 ** 40,
    });
    const path = work.write('odd.pem', pem);
    const text = openssl(['crl', '-in', path, '-CAfile', caPath, '-noout', '-verify', '-text']).output;
    expect(text).toContain('verify OK');
    expect(text).toMatch(/Serial Number: 8F\n/);
    expect(text).toMatch(/Serial Number: 0A0B\n/);
    expect(text).toContain('Privilege Withdrawn');
    expect(parseCrl(pem)).toMatchObject({ crlNumber: 2 ** 40, revokedSerials: ['8f', '0a0b'] });
  });

  it('uses GeneralizedTime from 2050 on, as RFC 5280 requires', () => {
    const pem = buildCrl(ca, { revoked: [], thisUpdate, nextUpdate: new Date('2051-06-01T00:00:00Z'), crlNumber: 3 });
    expect(openssl(['crl', '-in', work.write('far.pem', pem), '-CAfile', caPath, '-noout', '-verify']).status).toBe(0);
    expect(parseCrl(pem).nextUpdate.toISOString()).toBe('2051-06-01T00:00:00.000Z');
  });

  it('refuses inconsistent input with CA_FAILURE', () => {
    const base = { revoked: [], thisUpdate, nextUpdate, crlNumber: 1 };
    expect(() => buildCrl(ca, { ...base, nextUpdate: thisUpdate })).toThrow(BrokerError);
    expect(() => buildCrl(ca, { ...base, crlNumber: -1 })).toThrow(/non-negative/);
    const twice = [
      { serialHex: 'ab', revokedAt: thisUpdate },
      { serialHex: '00AB', revokedAt: thisUpdate },
    ];
    expect(() => buildCrl(ca, { ...base, revoked: twice })).toThrow(/listed twice/);
    expect(() => buildCrl(ca, { ...base, revoked: [{ serialHex: 'xyz', revokedAt: thisUpdate }] })).toThrow(
      /hexadecimal/,
    );
  });
});

describe('isCrlIssuedBy', () => {
  it('accepts our CRL and rejects one signed by another CA with the same name', () => {
    expect(isCrlIssuedBy(crlPem, ca.certPem)).toBe(true);
    const impostor = opensslCa(work, '/O=Message Broker/CN=CRL Test CA', 'impostor');
    const forged = buildCrl(impostor, { revoked: [], thisUpdate, nextUpdate, crlNumber: 99 });
    expect(isCrlIssuedBy(forged, ca.certPem)).toBe(false);
    // openssl crl exits 0 either way; the verdict is in the text.
    expect(
      openssl(['crl', '-in', work.write('forged.pem', forged), '-CAfile', caPath, '-noout', '-verify']).output,
    ).toContain('verify failure');
  });
});

describe('the CRL in a Node TLS server (what the front does)', () => {
  it('authorises a good client and reports CERT_REVOKED for a revoked one', async () => {
    const server = issueServerCertificate(ca, {
      commonName: 'localhost',
      hostnames: ['localhost', '127.0.0.1'],
      days: 1,
    });
    expect(await handshake(server, good)).toBe('good.example authorized=true null');
    expect(await handshake(server, revokedA)).toBe('lost-laptop.example authorized=false CERT_REVOKED');
  });
});

/** One TLS 1.3 connection; the server answers with what OpenSSL decided about the client. */
async function handshake(server: CertificateKeyPair, client: CertificateKeyPair): Promise<string> {
  const tlsServer = createServer(
    // rejectUnauthorized: false so the verdict can be read instead of inferred from a hang-up.
    {
      ...keyCert(server),
      ca: ca.certPem,
      crl: crlPem,
      requestCert: true,
      rejectUnauthorized: false,
      minVersion: 'TLSv1.3',
    },
    (socket) => {
      const cn = socket.getPeerCertificate().subject.CN;
      socket.end(`${cn} authorized=${socket.authorized} ${String(socket.authorizationError ?? null)}`);
    },
  );
  tlsServer.listen(0, '127.0.0.1');
  await once(tlsServer, 'listening');
  try {
    const { port } = tlsServer.address() as AddressInfo;
    const socket = connect({ host: '127.0.0.1', port, servername: 'localhost', ca: ca.certPem, ...keyCert(client) });
    let received = '';
    socket.setEncoding('utf8').on('data', (chunk: string) => (received += chunk));
    await once(socket, 'end');
    return received;
  } finally {
    tlsServer.close();
  }
}

function keyCert(pair: CertificateKeyPair): { key: string; cert: string } {
  return { key: pair.keyPem, cert: pair.certPem };
}
