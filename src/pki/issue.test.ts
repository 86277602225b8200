import { createPrivateKey, X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrokerError } from '../errors.js';
import { createCa } from './ca.js';
import { issueClientCertificate, issueServerCertificate } from './issue.js';
import { makeWorkdir, openssl, opensslCa } from './openssl.test-support.js';
import type { Workdir } from './openssl.test-support.js';
import type { CaMaterial, IssuedCertificate } from './pki.types.js';

let work: Workdir;
let ca: CaMaterial;
let caPath: string;
let client: IssuedCertificate;

beforeAll(() => {
  work = makeWorkdir();
  ca = createCa({ commonName: 'Issue Test CA', days: 3650 });
  caPath = work.write('ca.crt', ca.certPem);
  client = issueClientCertificate(ca, { commonName: 'alice.example' });
});

afterAll(() => work.remove());

describe('createCa', () => {
  it('makes a self-signed RSA-4096 CA with critical CA:TRUE and certificate/CRL signing', () => {
    const text = openssl(['x509', '-in', caPath, '-noout', '-text']).stdout;
    expect(text).toContain('Public-Key: (4096 bit)');
    expect(text).toMatch(/Subject: O = Message Broker, CN = Issue Test CA/);
    expect(text).toMatch(/Issuer: O = Message Broker, CN = Issue Test CA/);
    expect(text).toMatch(/Basic Constraints: critical\s+CA:TRUE/);
    expect(text).toMatch(/Key Usage: critical\s+Certificate Sign, CRL Sign/);
    expect(text).toContain('Subject Key Identifier');
    expect(text).toContain('Signature Algorithm: sha256WithRSAEncryption');
    // Self-signed: openssl accepts it as its own trust anchor.
    expect(openssl(['verify', '-CAfile', caPath, caPath]).status).toBe(0);
  });

  it('uses a positive serial of 16 bytes at most and the requested lifetime', () => {
    const x509 = new X509Certificate(ca.certPem);
    expect(x509.serialNumber).toMatch(/^[0-9A-F]{2,32}$/);
    expect(Number.parseInt(x509.serialNumber.slice(0, 2), 16)).toBeLessThan(0x80);
    const lifetimeDays = (Date.parse(x509.validTo) - Date.parse(x509.validFrom)) / 86_400_000;
    expect(Math.round(lifetimeDays)).toBe(3650);
  });
});

describe('issueClientCertificate', () => {
  it('is accepted by openssl verify, also for the sslclient purpose', () => {
    const path = work.write('client.crt', client.certPem);
    expect(openssl(['verify', '-CAfile', caPath, path]).output).toContain(': OK');
    expect(openssl(['verify', '-purpose', 'sslclient', '-CAfile', caPath, path]).status).toBe(0);
    expect(openssl(['verify', '-purpose', 'sslserver', '-CAfile', caPath, path]).status).not.toBe(0);
  });

  it('carries the CN, clientAuth, CA:FALSE, the key usages and both key identifiers', () => {
    const path = work.write('client.crt', client.certPem);
    const text = openssl(['x509', '-in', path, '-noout', '-text']).stdout;
    expect(text).toMatch(/Subject: CN = alice\.example/);
    expect(text).toMatch(/Issuer: O = Message Broker, CN = Issue Test CA/);
    expect(text).toMatch(/Basic Constraints: critical\s+CA:FALSE/);
    expect(text).toMatch(/Key Usage: critical\s+Digital Signature, Key Encipherment/);
    expect(text).toMatch(/Extended Key Usage:\s*\n\s+TLS Web Client Authentication\n/);
    expect(text).toContain('Public-Key: (2048 bit)');
    const caKeyId = /Subject Key Identifier:\s*\n\s+([0-9A-F:]+)/.exec(
      openssl(['x509', '-in', caPath, '-noout', '-text']).stdout,
    )?.[1];
    const authorityKeyId = /Authority Key Identifier:\s*\n\s+(?:keyid:)?([0-9A-F:]+)/.exec(text)?.[1];
    expect(caKeyId).toBeDefined();
    expect(authorityKeyId).toBe(caKeyId);
  });

  it('reports the serial as openssl and Node print it, lowercased', () => {
    const path = work.write('client.crt', client.certPem);
    const printed = openssl(['x509', '-in', path, '-noout', '-serial']).stdout.trim().replace('serial=', '');
    expect(client.serialHex).toBe(printed.toLowerCase());
    expect(client.serialHex).toBe(new X509Certificate(client.certPem).serialNumber.toLowerCase());
    expect(client.serialHex.length).toBeGreaterThanOrEqual(16); // ≥ 64 bits
  });

  it('reports fingerprint, validity and a key that belongs to the certificate', () => {
    const x509 = new X509Certificate(client.certPem);
    expect(client.fingerprint256).toBe(x509.fingerprint256.replaceAll(':', '').toLowerCase());
    expect(client.notBefore.getTime()).toBe(Date.parse(x509.validFrom));
    expect(client.notAfter.getTime()).toBe(Date.parse(x509.validTo));
    expect(client.notBefore.getTime()).toBeLessThanOrEqual(Date.now());
    expect(Math.round((client.notAfter.getTime() - Date.now()) / 86_400_000)).toBe(365);
    expect(x509.checkPrivateKey(createPrivateKey(client.keyPem))).toBe(true);
    expect(client.commonName).toBe('alice.example');
  });

  it('honours explicit notBefore/notAfter to the second', () => {
    const notBefore = new Date('2020-01-01T00:00:00.900Z');
    const notAfter = new Date('2020-01-02T00:00:00Z');
    const old = issueClientCertificate(ca, { commonName: 'old.example', notBefore, notAfter });
    expect(old.notBefore.toISOString()).toBe('2020-01-01T00:00:00.000Z');
    expect(old.notAfter.toISOString()).toBe('2020-01-02T00:00:00.000Z');
    const path = work.write('old.crt', old.certPem);
    expect(openssl(['verify', '-CAfile', caPath, path]).output).toContain('certificate has expired');
  });

  it('can be asked for serverAuth to make a wrong-usage client certificate', () => {
    const wrong = issueClientCertificate(ca, { commonName: 'wrong.example', extKeyUsage: 'serverAuth' });
    const path = work.write('wrong.crt', wrong.certPem);
    expect(openssl(['verify', '-purpose', 'sslclient', '-CAfile', caPath, path]).status).not.toBe(0);
  });

  it('gives every certificate a fresh serial', () => {
    const again = issueClientCertificate(ca, { commonName: 'alice.example' });
    expect(again.serialHex).not.toBe(client.serialHex);
    expect(again.fingerprint256).not.toBe(client.fingerprint256);
  });

  it('issues from a CA it did not create, copying the issuer name byte for byte', () => {
    const foreign = opensslCa(work, '/C=DE/O=Elsewhere/CN=Foreign CA', 'foreign');
    const issued = issueClientCertificate(foreign, { commonName: 'carol.example', days: 10 });
    const path = work.write('carol.crt', issued.certPem);
    expect(openssl(['verify', '-CAfile', work.write('foreign.crt', foreign.certPem), path]).status).toBe(0);
    expect(new X509Certificate(issued.certPem).issuer).toBe(new X509Certificate(foreign.certPem).subject);
  });

  it('rejects bad input and a CA key that does not match with CA_FAILURE', () => {
    expect(() => issueClientCertificate(ca, { commonName: '' })).toThrow(BrokerError);
    expect(() => issueClientCertificate(ca, { commonName: 'x'.repeat(65) })).toThrow(/1 to 64/);
    expect(() => issueClientCertificate(ca, { commonName: 'a.example', days: 0 })).toThrow(/positive whole number/);
    expect(() =>
      issueClientCertificate(ca, {
        commonName: 'a.example',
        notBefore: new Date('2030-01-01'),
        notAfter: new Date('2029-01-01'),
      }),
    ).toThrow(/later than notBefore/);
    const other = opensslCa(work, '/CN=Mismatch', 'mismatch');
    try {
      issueClientCertificate({ certPem: ca.certPem, keyPem: other.keyPem }, { commonName: 'a.example' });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(BrokerError);
      expect((error as BrokerError).code).toBe('CA_FAILURE');
      expect((error as BrokerError).message).toMatch(/does not belong/);
    }
  });
});

describe('issueServerCertificate', () => {
  it('carries DNS and IP subjectAltNames and serverAuth, and verifies for sslserver', () => {
    const server = issueServerCertificate(ca, {
      commonName: 'broker.local',
      hostnames: ['broker.local', 'localhost', '127.0.0.1', '::1'],
      days: 30,
    });
    const path = work.write('server.crt', server.certPem);
    const text = openssl(['x509', '-in', path, '-noout', '-text']).stdout;
    expect(text).toMatch(
      /Subject Alternative Name:\s*\n\s+DNS:broker\.local, DNS:localhost, IP Address:127\.0\.0\.1, IP Address:0:0:0:0:0:0:0:1/,
    );
    expect(text).toMatch(/Extended Key Usage:\s*\n\s+TLS Web Server Authentication\n/);
    expect(openssl(['verify', '-purpose', 'sslserver', '-CAfile', caPath, path]).status).toBe(0);
    const x509 = new X509Certificate(server.certPem);
    expect(x509.checkHost('localhost')).toBe('localhost');
    expect(x509.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(x509.checkIP('::1')).toBe('::1');
  });

  it('refuses an empty or malformed host list', () => {
    expect(() => issueServerCertificate(ca, { commonName: 'x', hostnames: [], days: 1 })).toThrow(/at least one/);
    expect(() => issueServerCertificate(ca, { commonName: 'x', hostnames: ['bad host'], days: 1 })).toThrow(
      /Not a DNS name/,
    );
  });
});
