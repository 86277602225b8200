/**
 * The CA key under a passphrase (pki.ca_key_passphrase_file): on disk it is encrypted
 * PKCS#8 with AES-256 (openssl is the judge), issue/renew/revoke work with it, a wrong or
 * missing passphrase is a clear CA_KEY_LOCKED naming the file, and a CA key made before
 * the passphrase was set is encrypted at the next start.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootstrapPki, initCa, type LifecycleDeps } from '../../src/ca/ca-lifecycle.js';
import { CertificateAuthority } from '../../src/ca/ca.service.js';
import { loadConfig } from '../../src/config/config.js';
import { BrokerError } from '../../src/errors.js';
import { createLogger } from '../../src/logger.js';
import { readCaKeyPassphrase } from '../../src/pki/ca-key-passphrase.js';
import { CertStore } from '../../src/pki/cert-store.js';
import { createCa } from '../../src/pki/ca.js';
import { makeWorkdir, openssl, type Workdir } from '../../src/pki/openssl.test-support.js';
import { useTestDatabase, useTestRedis } from '../support/test-fixtures.js';

const { handle } = useTestDatabase({ poolSize: 4 });
const { prefix } = useTestRedis();
const logger = createLogger('silent');

let work: Workdir;
let passFile: string;
let store: CertStore;
let ca: CertificateAuthority;
let lifecycle: LifecycleDeps;

const config = () =>
  loadConfig({
    values: {
      pki: { dir: join(work.dir, 'certs'), ca_key_passphrase_file: passFile },
      domains: [{ name: 'default' }, { name: 'acme' }],
      redis: { key_prefix: prefix },
    },
    env: {},
  });

function lockedError(run: () => unknown): BrokerError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(BrokerError);
    expect((error as BrokerError).code).toBe('CA_KEY_LOCKED');
    return error as BrokerError;
  }
  throw new Error('expected CA_KEY_LOCKED');
}

beforeAll(async () => {
  work = makeWorkdir('mb-ca-pass-');
  passFile = work.write('ca-passphrase', 'correct horse battery staple\n');
  const cfg = config();
  store = new CertStore(cfg.pki.dir, { caKeyPassphrase: readCaKeyPassphrase(cfg.pki.ca_key_passphrase_file) });
  ca = new CertificateAuthority({
    config: cfg,
    store,
    db: handle.db,
    logger,
    announce: async () => {},
    origin: 'test',
  });
  lifecycle = { config: cfg, store, authority: ca, logger };
  await initCa(lifecycle, { overwrite: false, actor: 'cli:test' });
});
afterAll(() => work?.remove());

describe('CA key passphrase', () => {
  it('writes ca.key as encrypted PKCS#8 (AES-256) that openssl opens only with the passphrase', () => {
    const pem = readFileSync(store.paths.caKey, 'utf8');
    expect(pem).toContain('-----BEGIN ENCRYPTED PRIVATE KEY-----');
    expect(pem).not.toContain('-----BEGIN PRIVATE KEY-----');
    const parsed = openssl(['asn1parse', '-in', store.paths.caKey]).stdout;
    expect(parsed).toContain('PBES2');
    expect(parsed).toContain('aes-256-cbc');
    expect(openssl(['pkey', '-in', store.paths.caKey, '-noout', '-passin', 'pass:wrong']).status).not.toBe(0);
    const opened = openssl(['pkey', '-in', store.paths.caKey, '-passin', `file:${passFile}`, '-pubout']);
    expect(opened.status).toBe(0);
    const fromCert = openssl(['x509', '-in', store.paths.caCert, '-noout', '-pubkey']).stdout;
    expect(opened.stdout).toBe(fromCert);
  });

  it('issues, renews and revokes with the encrypted key (openssl verifies the certificate and the CRL)', async () => {
    const alice = await ca.issue({ name: 'alice', domain: 'acme', actor: 'cli:test' });
    expect(
      openssl(['verify', '-CAfile', store.paths.caCert, work.write('alice.crt', alice.cert_pem)]).stdout,
    ).toContain('OK');
    const renewed = await ca.renew({ name: 'alice', domain: 'acme', actor: 'cli:test' });
    expect(
      openssl(['verify', '-CAfile', store.paths.caCert, work.write('alice2.crt', renewed.cert_pem)]).stdout,
    ).toContain('OK');
    await ca.revoke({ serial: alice.serial, reason: 'keyCompromise', actor: 'cli:test' });
    const crl = openssl(['crl', '-in', store.paths.crl, '-CAfile', store.paths.caCert, '-noout', '-verify', '-text']);
    expect(crl.output).toContain('verify OK');
    expect(crl.stdout.toLowerCase()).toContain(`serial number: ${alice.serial}`);
    // Still encrypted after all of it.
    expect(readFileSync(store.paths.caKey, 'utf8')).toContain('ENCRYPTED PRIVATE KEY');
  });

  it('refuses a wrong passphrase, a missing passphrase and a missing file, naming what to fix', () => {
    const wrongFile = work.write('wrong-passphrase', 'not it\n');
    const wrong = lockedError(() =>
      new CertStore(store.dir, { caKeyPassphrase: readCaKeyPassphrase(wrongFile) }).loadCa(),
    );
    expect(wrong.message).toContain(wrongFile);
    expect(wrong.message).toContain(store.paths.caKey);
    const none = lockedError(() => new CertStore(store.dir).loadCa());
    expect(none.message).toContain('pki.ca_key_passphrase_file');
    const missing = lockedError(() => readCaKeyPassphrase(join(work.dir, 'no-such-file')));
    expect(missing.message).toContain(join(work.dir, 'no-such-file'));
    expect(lockedError(() => readCaKeyPassphrase(work.write('empty', '\n'))).message).toContain('empty');
  });

  it('encrypts a CA key made before the passphrase was set, at the next start', async () => {
    const dir = join(work.dir, 'older-certs');
    new CertStore(dir).saveCa(createCa({ commonName: 'Older CA', days: 30 }));
    expect(readFileSync(join(dir, 'ca.key'), 'utf8')).toContain('-----BEGIN PRIVATE KEY-----');
    const upgraded = new CertStore(dir, { caKeyPassphrase: readCaKeyPassphrase(passFile) });
    const authority = new CertificateAuthority({
      config: config(),
      store: upgraded,
      db: handle.db,
      logger,
      announce: async () => {},
      origin: 'test',
    });
    await bootstrapPki(
      { config: config(), store: upgraded, authority, logger },
      { hostnames: ['localhost'], demo: null },
    );
    expect(readFileSync(join(dir, 'ca.key'), 'utf8')).toContain('-----BEGIN ENCRYPTED PRIVATE KEY-----');
    expect(upgraded.loadCa().certPem).toBe(readFileSync(join(dir, 'ca.crt'), 'utf8'));
  });
});
