/**
 * The CN as the front reads it from `X509Certificate.subject`, checked against what
 * OpenSSL writes for real certificates with plain, escaped and multi-line subjects.
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { commonNameOf } from './client-identity.js';

const dir = mkdtempSync(join(tmpdir(), 'mb-cn-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function subjectOf(dn: string): string {
  const out = join(dir, 'c.crt');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      join(dir, 'c.key'),
      '-out',
      out,
      '-days',
      '1',
      '-utf8',
      '-subj',
      dn,
    ],
    { stdio: 'ignore' },
  );
  return new X509Certificate(readFileSync(out)).subject;
}

describe('commonNameOf', () => {
  it('reads the CN of a certificate our CA issues, among other attributes', () => {
    expect(commonNameOf(subjectOf('/O=Message Broker/CN=gateway-7.alpha'))).toBe('gateway-7.alpha');
  });

  it('undoes OpenSSL escaping, including UTF-8 bytes, and takes the first CN', () => {
    expect(commonNameOf(subjectOf('/O=Acme, Inc./CN=we"ird\\, näme/CN=second'))).toBe('we"ird, näme');
  });

  it('cannot be fooled by a newline in another attribute', () => {
    const subject = subjectOf('/O=x\nCN=admin.alpha/CN=real.alpha');
    expect(commonNameOf(subject)).toBe('real.alpha');
  });

  it('answers undefined when there is no CN', () => {
    expect(commonNameOf(subjectOf('/O=No Name'))).toBeUndefined();
  });
});
