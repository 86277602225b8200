import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrokerError } from '../errors.js';
import { CertStore } from './cert-store.js';
import { buildCrl } from './crl.js';
import { issueClientCertificate, issueServerCertificate } from './issue.js';
import { makeWorkdir, opensslCa } from './openssl.test-support.js';
import type { Workdir } from './openssl.test-support.js';
import type { CaMaterial, IssuedCertificate } from './pki.types.js';

// The store only moves PEM text around, so a quick openssl-made RSA-2048 CA stands in.
let work: Workdir;
let ca: CaMaterial;
let otherCa: CaMaterial;
let client: IssuedCertificate;

beforeAll(() => {
  work = makeWorkdir();
  ca = opensslCa(work, '/O=Message Broker/CN=Store Test CA', 'ca');
  otherCa = opensslCa(work, '/O=Message Broker/CN=Other CA', 'other');
  client = issueClientCertificate(ca, { commonName: 'alice.example' });
});

afterAll(() => work.remove());

let counter = 0;
function freshStore(): CertStore {
  counter += 1;
  return new CertStore(join(work.dir, `store-${counter}`, 'certs'));
}

const mode = (path: string) => statSync(path).mode & 0o777;

describe('CertStore', () => {
  it('creates its directory 0700 and writes the CA key 0600', () => {
    const store = freshStore();
    expect(store.hasCa()).toBe(false);
    store.saveCa(ca);
    expect(store.hasCa()).toBe(true);
    expect(mode(store.dir)).toBe(0o700);
    expect(mode(store.paths.caKey)).toBe(0o600);
    expect(mode(store.paths.caCert)).toBe(0o644);
    expect(store.loadCa()).toEqual(ca);
  });

  it('refuses to overwrite an existing CA unless told to', () => {
    const store = freshStore();
    store.saveCa(ca);
    try {
      store.saveCa(otherCa);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(BrokerError);
      expect((error as BrokerError).code).toBe('CA_FAILURE');
      expect((error as BrokerError).message).toMatch(/already exists.*refusing to overwrite/);
    }
    expect(store.loadCa()).toEqual(ca);
    store.saveCa(otherCa, { overwrite: true });
    expect(store.loadCa()).toEqual(otherCa);
    expect(mode(store.paths.caKey)).toBe(0o600);
  });

  it('refuses to overwrite when only the key is left behind', () => {
    const store = freshStore();
    store.saveCa(ca);
    rmSync(store.paths.caCert); // as after a crash between the two writes
    expect(store.hasCa()).toBe(false);
    expect(() => store.saveCa(otherCa)).toThrow(/already exists in .*\(ca\.key\)/);
  });

  it('refuses a certificate and key that do not belong together', () => {
    const store = freshStore();
    expect(() => store.saveCa({ certPem: ca.certPem, keyPem: otherCa.keyPem })).toThrow(/do not match/);
    expect(existsSync(store.paths.caKey)).toBe(false);
  });

  it('explains what is missing when loading from an empty store', () => {
    const store = freshStore();
    expect(() => store.loadCa()).toThrow(/No CA \(certificate\) at .*ca\.crt/);
    expect(() => store.loadCrl()).toThrow(/No CRL at/);
    expect(store.listClientBundles()).toEqual([]);
  });

  it('stores the server and delivery-client identities with 0600 keys', () => {
    const store = freshStore();
    const server = issueServerCertificate(ca, { commonName: 'broker.local', hostnames: ['broker.local'], days: 30 });
    const delivery = issueClientCertificate(ca, { commonName: 'broker.delivery' });
    store.saveServer(server);
    store.saveDeliveryClient(delivery);
    expect(store.loadServer()).toEqual({ certPem: server.certPem, keyPem: server.keyPem });
    expect(store.loadDeliveryClient()).toEqual({ certPem: delivery.certPem, keyPem: delivery.keyPem });
    expect(mode(store.paths.serverKey)).toBe(0o600);
    expect(mode(store.paths.deliveryClientKey)).toBe(0o600);
    expect(store.hasServer() && store.hasDeliveryClient()).toBe(true);
  });

  it('replaces the CRL atomically, leaving no temporary files', () => {
    const store = freshStore();
    const now = Date.now();
    const first = buildCrl(ca, {
      revoked: [],
      thisUpdate: new Date(now),
      nextUpdate: new Date(now + 3_600_000),
      crlNumber: 1,
    });
    const second = buildCrl(ca, {
      revoked: [{ serialHex: client.serialHex, revokedAt: new Date(now) }],
      thisUpdate: new Date(now),
      nextUpdate: new Date(now + 3_600_000),
      crlNumber: 2,
    });
    store.saveCrl(first);
    store.saveCrl(second);
    expect(store.loadCrl()).toBe(second);
    expect(readdirSync(store.dir).filter((name) => name.endsWith('.tmp'))).toEqual([]);
    expect(() => store.saveCrl('not a crl')).toThrow(BrokerError);
  });

  it('writes client bundles under clients/<cn>/ with a 0600 key', () => {
    const store = freshStore();
    const dir = store.saveClientBundle('alice.example', client, ca.certPem);
    expect(dir).toBe(join(store.dir, 'clients', 'alice.example'));
    expect(readdirSync(dir).sort()).toEqual(['ca.crt', 'client.crt', 'client.key']);
    expect(mode(join(dir, 'client.key'))).toBe(0o600);
    expect(mode(dir)).toBe(0o700);
    expect(store.loadClientBundle('alice.example')).toEqual({
      certPem: client.certPem,
      keyPem: client.keyPem,
      caPem: ca.certPem,
    });
    expect(store.hasClientBundle('alice.example')).toBe(true);
    expect(store.listClientBundles()).toEqual(['alice.example']);
  });

  it('keeps client names from escaping the store', () => {
    const store = freshStore();
    for (const name of ['../evil', '.hidden', 'a/b', '', 'x'.repeat(65)]) {
      expect(() => store.saveClientBundle(name, client, ca.certPem)).toThrow(/cannot name a client bundle/);
    }
  });
});
