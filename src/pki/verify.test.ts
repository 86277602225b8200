import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrokerError } from '../errors.js';
import { createCa } from './ca.js';
import { buildCrl } from './crl.js';
import { issueClientCertificate } from './issue.js';
import { makeWorkdir, opensslCa } from './openssl.test-support.js';
import type { Workdir } from './openssl.test-support.js';
import { CERTIFICATE_PROBLEMS, verifyCertificate } from './verify.js';
import type { CaMaterial, IssuedCertificate } from './pki.types.js';

const DAY = 86_400_000;
let work: Workdir;
let ca: CaMaterial;
let client: IssuedCertificate;

beforeAll(() => {
  work = makeWorkdir();
  ca = createCa({ commonName: 'Verify Test CA', days: 3650 });
  client = issueClientCertificate(ca, { commonName: 'alice.example' });
});

afterAll(() => work.remove());

function crlRevoking(serials: string[], nextUpdate = new Date(Date.now() + DAY)): string {
  const revoked = serials.map((serialHex) => ({ serialHex, revokedAt: new Date(), reason: 'keyCompromise' as const }));
  return buildCrl(ca, { revoked, thisUpdate: new Date(Date.now() - 60_000), nextUpdate, crlNumber: 1 });
}

describe('verifyCertificate', () => {
  it('accepts a current client certificate and describes it', () => {
    const verdict = verifyCertificate(client.certPem, { caPem: ca.certPem, crlPem: crlRevoking([]) });
    expect(verdict).toEqual({
      valid: true,
      problems: [],
      subject: 'CN=alice.example',
      commonName: 'alice.example',
      serialHex: client.serialHex,
      fingerprint256: client.fingerprint256,
      notBefore: client.notBefore,
      notAfter: client.notAfter,
    });
  });

  it('flags an expired certificate', () => {
    const expired = issueClientCertificate(ca, {
      commonName: 'expired.example',
      notBefore: new Date(Date.now() - 10 * DAY),
      notAfter: new Date(Date.now() - DAY),
    });
    expect(verifyCertificate(expired.certPem, { caPem: ca.certPem })).toMatchObject({
      valid: false,
      problems: ['expired'],
    });
  });

  it('flags a certificate that is not yet valid', () => {
    const future = issueClientCertificate(ca, {
      commonName: 'future.example',
      notBefore: new Date(Date.now() + DAY),
      days: 30,
    });
    expect(verifyCertificate(future.certPem, { caPem: ca.certPem })).toMatchObject({
      valid: false,
      problems: ['not yet valid'],
    });
  });

  it('judges validity at the instant given', () => {
    const at = new Date(client.notAfter.getTime() + 1000);
    expect(verifyCertificate(client.certPem, { caPem: ca.certPem, at }).problems).toEqual(['expired']);
    expect(verifyCertificate(client.certPem, { caPem: ca.certPem, at: client.notAfter }).valid).toBe(true);
  });

  it('flags a certificate from another CA, even one with the same subject name', () => {
    const impostor = opensslCa(work, '/O=Message Broker/CN=Verify Test CA', 'impostor');
    expect(new X509Certificate(impostor.certPem).subject).toBe(new X509Certificate(ca.certPem).subject);
    const foreign = issueClientCertificate(impostor, { commonName: 'alice.example', days: 5 });
    expect(verifyCertificate(foreign.certPem, { caPem: ca.certPem }).problems).toEqual([
      CERTIFICATE_PROBLEMS.notIssued,
    ]);
    // And the other way round: our certificate is not the impostor's.
    expect(verifyCertificate(client.certPem, { caPem: impostor.certPem }).problems).toEqual(['not issued by this CA']);
  });

  it('flags a certificate made for server authentication', () => {
    const wrong = issueClientCertificate(ca, { commonName: 'wrong.example', extKeyUsage: 'serverAuth' });
    expect(verifyCertificate(wrong.certPem, { caPem: ca.certPem }).problems).toEqual(['not for client authentication']);
  });

  it('flags a revoked certificate, matching serials whatever their spelling', () => {
    const crlPem = crlRevoking([client.serialHex.toUpperCase()]);
    expect(verifyCertificate(client.certPem, { caPem: ca.certPem, crlPem })).toMatchObject({
      valid: false,
      problems: ['revoked'],
    });
    const other = issueClientCertificate(ca, { commonName: 'bob.example' });
    expect(verifyCertificate(other.certPem, { caPem: ca.certPem, crlPem }).valid).toBe(true);
  });

  it('reports a stale CRL the way OpenSSL would refuse it', () => {
    const stale = buildCrl(ca, {
      revoked: [],
      thisUpdate: new Date(Date.now() - 2 * DAY),
      nextUpdate: new Date(Date.now() - DAY),
      crlNumber: 1,
    });
    expect(verifyCertificate(client.certPem, { caPem: ca.certPem, crlPem: stale }).problems).toEqual(['crl expired']);
  });

  it('ignores the entries of a CRL this CA did not sign, and says so', () => {
    const impostor = opensslCa(work, '/O=Message Broker/CN=Verify Test CA', 'crl-impostor');
    const forged = buildCrl(impostor, {
      revoked: [{ serialHex: client.serialHex, revokedAt: new Date() }],
      thisUpdate: new Date(),
      nextUpdate: new Date(Date.now() + DAY),
      crlNumber: 1,
    });
    expect(verifyCertificate(client.certPem, { caPem: ca.certPem, crlPem: forged }).problems).toEqual([
      'crl not issued by this CA',
    ]);
  });

  it('lists every problem at once', () => {
    const bad = issueClientCertificate(ca, {
      commonName: 'bad.example',
      extKeyUsage: 'serverAuth',
      notBefore: new Date(Date.now() - 3 * DAY),
      notAfter: new Date(Date.now() - DAY),
    });
    const verdict = verifyCertificate(bad.certPem, { caPem: ca.certPem, crlPem: crlRevoking([bad.serialHex]) });
    expect(verdict.problems).toEqual(['expired', 'not for client authentication', 'revoked']);
  });

  it('throws CA_FAILURE for text that is not a certificate', () => {
    expect(() => verifyCertificate('nonsense', { caPem: ca.certPem })).toThrow(BrokerError);
    expect(() => verifyCertificate(client.certPem, { caPem: 'nonsense' })).toThrow(/CA certificate could not be read/);
  });
});
