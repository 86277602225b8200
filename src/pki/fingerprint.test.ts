import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromPem } from './der.js';
import { fingerprintOfDer, fingerprintOfPem, normalizeFingerprint } from './fingerprint.js';
import { makeWorkdir, openssl, opensslCa } from './openssl.test-support.js';
import type { Workdir } from './openssl.test-support.js';

// No CA of our own is needed: any certificate will do, and openssl makes one quickly.
let work: Workdir;
let certPem: string;

beforeAll(() => {
  work = makeWorkdir();
  certPem = opensslCa(work, '/CN=fingerprint.example', 'cert').certPem;
});

afterAll(() => work.remove());

describe('fingerprints', () => {
  it('equal Node’s fingerprint256, normalised', () => {
    const expected = normalizeFingerprint(new X509Certificate(certPem).fingerprint256);
    expect(fingerprintOfPem(certPem)).toBe(expected);
    expect(expected).toMatch(/^[0-9a-f]{64}$/);
  });

  it('equal openssl’s SHA-256 fingerprint', () => {
    const printed = openssl([
      'x509',
      '-in',
      work.write('cert.pem', certPem),
      '-noout',
      '-fingerprint',
      '-sha256',
    ]).stdout;
    expect(fingerprintOfPem(certPem)).toBe(normalizeFingerprint(printed.trim().split('=')[1]!));
  });

  it('are the same from DER and from PEM', () => {
    expect(fingerprintOfDer(fromPem(certPem, 'CERTIFICATE'))).toBe(fingerprintOfPem(certPem));
  });
});

describe('normalizeFingerprint', () => {
  it('lowercases and strips colons', () => {
    const colon = `${'AB:'.repeat(31)}CD`;
    expect(normalizeFingerprint(colon)).toBe(`${'ab'.repeat(31)}cd`);
    expect(normalizeFingerprint(`${'ab'.repeat(31)}cd`)).toBe(`${'ab'.repeat(31)}cd`);
  });

  it('refuses anything that is not a SHA-256 fingerprint', () => {
    expect(() => normalizeFingerprint('AB:CD')).toThrow(/SHA-256/);
    expect(() => normalizeFingerprint('zz'.repeat(32))).toThrow(/SHA-256/);
  });

  it('refuses text that is not a certificate', () => {
    expect(() => fingerprintOfPem('nonsense')).toThrow(/could not be read/);
  });
});
