import { createPrivateKey, X509Certificate } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrokerError } from '../errors.js';
import { issueClientCertificate } from './issue.js';
import { makeWorkdir, openssl, opensslCa } from './openssl.test-support.js';
import type { Workdir } from './openssl.test-support.js';
import { toPkcs12 } from './pkcs12.js';
import type { CaMaterial, IssuedCertificate } from './pki.types.js';

const PASSWORD = 'correct horse battery staple';
let work: Workdir;
let ca: CaMaterial;
let client: IssuedCertificate;
let p12Path: string;

beforeAll(() => {
  work = makeWorkdir();
  // The bundle only carries certificates; a quick openssl-made CA is enough here.
  ca = opensslCa(work, '/O=Message Broker/CN=PKCS12 Test CA', 'ca');
  client = issueClientCertificate(ca, { commonName: 'alice.example' });
  const bundle = toPkcs12({
    certPem: client.certPem,
    keyPem: client.keyPem,
    caPem: ca.certPem,
    password: PASSWORD,
    friendlyName: 'alice.example',
  });
  p12Path = work.write('alice.p12', bundle);
});

afterAll(() => work.remove());

describe('toPkcs12', () => {
  it('opens with openssl and the password, without -legacy, using AES-256 and a SHA-256 MAC', () => {
    const result = openssl(['pkcs12', '-in', p12Path, '-info', '-nokeys', '-passin', `pass:${PASSWORD}`]);
    expect(result.status).toBe(0);
    expect(result.output).toMatch(/MAC: sha256, Iteration 2048/);
    expect(result.output).toMatch(/PBES2, PBKDF2, AES-256-CBC, Iteration 2048, PRF hmacWithSHA256/);
    expect(result.output).toContain('friendlyName: alice.example');
    expect(result.output).toContain('subject=CN = alice.example');
    expect(result.output).toContain('subject=O = Message Broker, CN = PKCS12 Test CA');
  });

  it('holds the very certificate and key it was given', () => {
    const certs = openssl(['pkcs12', '-in', p12Path, '-nokeys', '-clcerts', '-passin', `pass:${PASSWORD}`]).stdout;
    expect(new X509Certificate(certs).fingerprint256).toBe(new X509Certificate(client.certPem).fingerprint256);
    const key = openssl(['pkcs12', '-in', p12Path, '-nocerts', '-nodes', '-passin', `pass:${PASSWORD}`]).stdout;
    const exported = (pem: string) => createPrivateKey(pem).export({ type: 'pkcs8', format: 'der' });
    expect(exported(key).equals(exported(client.keyPem))).toBe(true);
  });

  it('refuses the wrong password', () => {
    const result = openssl(['pkcs12', '-in', p12Path, '-info', '-nokeys', '-passin', 'pass:wrong']);
    expect(result.status).not.toBe(0);
    expect(result.output).toMatch(/Mac verify error/i);
  });

  it('loads into a Node TLS context (OpenSSL underneath, as an HTTPS client would)', () => {
    const pfx = toPkcs12({ certPem: client.certPem, keyPem: client.keyPem, caPem: ca.certPem, password: PASSWORD });
    expect(() => createSecureContext({ pfx, passphrase: PASSWORD })).not.toThrow();
    expect(() => createSecureContext({ pfx, passphrase: 'wrong' })).toThrow();
  });

  it('handles a non-ASCII password the way OpenSSL reads it from a UTF-8 terminal', () => {
    const password = 'pässwörd-ß-✓';
    const path = work.write('utf8.p12', toPkcs12({ certPem: client.certPem, keyPem: client.keyPem, password }));
    expect(openssl(['pkcs12', '-in', path, '-nocerts', '-nodes', '-passin', `pass:${password}`]).status).toBe(0);
  });

  it('refuses a key that does not belong to the certificate, and an empty password', () => {
    const other = issueClientCertificate(ca, { commonName: 'bob.example' });
    expect(() => toPkcs12({ certPem: client.certPem, keyPem: other.keyPem, password: PASSWORD })).toThrow(BrokerError);
    expect(() => toPkcs12({ certPem: client.certPem, keyPem: client.keyPem, password: '' })).toThrow(
      /needs a password/,
    );
  });
});
