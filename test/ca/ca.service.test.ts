/**
 * CertificateAuthority and its lifecycle against the real MariaDB and Redis, with
 * openssl as the independent judge of what it signs. Two instances over the same files
 * and database stand for the CA actor and the CLI working at the same time.
 */
import { X509Certificate } from 'node:crypto';
import { chmodSync, readFileSync, rmSync, statSync } from 'node:fs';
import { Writable } from 'node:stream';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bootstrapPki,
  deliveryClientCommonName,
  initCa,
  maintainPki,
  serverCommonName,
  serverRenewalReason,
  type LifecycleDeps,
} from '../../src/ca/ca-lifecycle.js';
import { CertificateAuthority } from '../../src/ca/ca.service.js';
import { loadConfig } from '../../src/config/config.js';
import { BrokerError } from '../../src/errors.js';
import { createLogger } from '../../src/logger.js';
import { CertStore } from '../../src/pki/cert-store.js';
import { buildCrl, parseCrl } from '../../src/pki/crl.js';
import { issueServerCertificate } from '../../src/pki/issue.js';
import { makeWorkdir, openssl, opensslCa, type Workdir } from '../../src/pki/openssl.test-support.js';
import {
  announceCrl,
  parseAnnouncement,
  readLatestCrl,
  type CrlAnnouncement,
} from '../../src/queue/revocation-events.js';
import { SharedIdentityCache } from '../../src/queue/identity-cache.js';
import { revocationChannel } from '../../src/queue/keys.js';
import { TEST_REDIS_URL, useTestDatabase, useTestRedis } from '../support/test-fixtures.js';

const DAY = 86_400_000;
const { handle } = useTestDatabase({ poolSize: 6 });
const { redis, prefix } = useTestRedis();

let work: Workdir;
let subscriber: Redis;
let store: CertStore;
let ca: CertificateAuthority;
let lifecycle: LifecycleDeps;
const heard: CrlAnnouncement[] = [];

const config = () =>
  loadConfig({
    values: { pki: { dir: work.dir }, domains: [{ name: 'default' }, { name: 'acme' }], redis: { key_prefix: prefix } },
    env: {},
  });
const logger = createLogger('silent');
const expectCode = async (promise: Promise<unknown>, code: string) =>
  expect(promise).rejects.toSatisfy((e) => e instanceof BrokerError && e.code === code);

function authority(announce = (a: CrlAnnouncement) => announceCrl(redis, prefix, a)): CertificateAuthority {
  return new CertificateAuthority({ config: config(), store, db: handle.db, logger, announce, origin: 'test' });
}

beforeAll(async () => {
  work = makeWorkdir('mb-ca-');
  subscriber = new Redis(TEST_REDIS_URL);
  await subscriber.subscribe(revocationChannel(prefix));
  subscriber.on('message', (_channel: string, message: string) => heard.push(parseAnnouncement(message)!));
  store = new CertStore(work.dir);
  ca = authority();
  lifecycle = { config: config(), store, authority: ca, logger };
  await initCa(lifecycle, { overwrite: false, actor: 'cli:test' });
});

afterAll(async () => {
  subscriber?.disconnect();
  work?.remove();
});

describe('the CA', () => {
  it('is RSA-4096, self-signed for 10 years, with a key written 0600 and a CRL', async () => {
    const text = openssl(['x509', '-in', store.paths.caCert, '-noout', '-text']).stdout;
    expect(text).toContain('Public-Key: (4096 bit)');
    expect(text).toMatch(/CA:TRUE/);
    expect(
      openssl(['crl', '-in', store.paths.crl, '-CAfile', store.paths.caCert, '-noout', '-verify']).output,
    ).toContain('verify OK');
    await expectCode(initCa(lifecycle, { overwrite: false, actor: 'cli:test' }), 'CA_EXISTS');
    expect((await ca.audit.list({ limit: 10 })).map((r) => r.action)).toContain('ca.init');
  });
});

describe('issue, renew, revoke', () => {
  let alice: Awaited<ReturnType<CertificateAuthority['issue']>>;

  it('issues a registered client certificate that openssl verifies (CN, clientAuth, validity)', async () => {
    alice = await ca.issue({ name: 'alice', domain: 'acme', actor: 'user:7', ip: '192.0.2.1', days: 90 });
    const certPath = work.write('alice.crt', alice.cert_pem);
    expect(openssl(['verify', '-CAfile', store.paths.caCert, certPath]).stdout).toContain('OK');
    const text = openssl(['x509', '-in', certPath, '-noout', '-text']).stdout;
    expect(text).toMatch(/Subject: CN\s*=\s*alice\.acme/);
    expect(text).toContain('TLS Web Client Authentication');
    expect(text).toMatch(/Digital Signature, Key Encipherment/);
    expect(Math.round((Date.parse(alice.not_after) - Date.now()) / DAY)).toBe(90);
    const row = await ca.certificates.findIdentityByFingerprint(alice.fingerprint);
    expect(row).toMatchObject({ serial: alice.serial, client_name: 'alice', domain: 'acme', cert_status: 'active' });
    const [audit] = await ca.audit.list({ limit: 1 });
    expect(audit).toMatchObject({
      actor: 'user:7',
      action: 'certificate.issue',
      target_id: alice.serial,
      domain: 'acme',
      ip: '192.0.2.1',
    });
  });

  it('refuses an existing name, an unknown domain and a malformed name', async () => {
    await expectCode(ca.issue({ name: 'alice', domain: 'acme', actor: 't' }), 'CLIENT_EXISTS');
    await expectCode(ca.issue({ name: 'bob', domain: 'nowhere', actor: 't' }), 'UNKNOWN_DOMAIN');
    await expectCode(ca.issue({ name: 'Bob.x', domain: 'acme', actor: 't' }), 'INVALID_PAYLOAD');
    await expectCode(ca.renew({ name: 'nobody', domain: 'acme', actor: 't' }), 'CLIENT_NOT_FOUND');
  });

  it("refuses a valid name whose CN (name.domain) would pass 64 characters as the caller's mistake, registering nothing", async () => {
    const longest = 'n'.repeat(64 - '.acme'.length);
    const tooLong = `${longest}x`;
    // Before: the signer's CA_FAILURE (a 500 in the admin API and the portal).
    await expectCode(ca.issue({ name: tooLong, domain: 'acme', actor: 't' }), 'INVALID_PAYLOAD');
    await expect(ca.issue({ name: tooLong, domain: 'acme', actor: 't' })).rejects.toThrow(/at most 64.*at most 59/);
    expect(await ca.clients.findByNameAndDomain(tooLong, 'acme')).toBeUndefined();
    const issued = await ca.issue({ name: longest, domain: 'acme', actor: 't' });
    expect(issued.common_name).toHaveLength(64);
  });

  it('renews with a new serial while the old certificate stays active', async () => {
    const renewed = await ca.renew({ name: 'alice', domain: 'acme', actor: 'cli:test' });
    expect(renewed.serial).not.toBe(alice.serial);
    expect(renewed.common_name).toBe('alice.acme');
    const list = await ca.list({ domain: 'acme' });
    expect(list.filter((c) => c.client_name === 'alice').map((c) => c.status)).toEqual(['active', 'active']);
    const [audit] = await ca.audit.list({ limit: 1 });
    expect(audit).toMatchObject({ action: 'certificate.renew', target_id: renewed.serial });
    expect(audit!.details).toMatchObject({ overlaps: [alice.serial], superseded: [] });
    expect(renewed).toMatchObject({
      overlaps: { serial: alice.serial, not_after: alice.not_after },
      superseded: [],
      crl_number: null,
      announced: true,
    });
  });

  it('keeps two active certificates per client: a renewal revokes the older ones as superseded, in the CRL and announced', async () => {
    const first = await ca.issue({ name: 'dave', domain: 'acme', actor: 'cli:test' });
    const second = await ca.renew({ name: 'dave', domain: 'acme', actor: 'cli:test' });
    heard.length = 0;
    const third = await ca.renew({ name: 'dave', domain: 'acme', actor: 'user:7', ip: '192.0.2.9' });
    expect(third).toMatchObject({
      overlaps: { serial: second.serial },
      superseded: [{ serial: first.serial, fingerprint: first.fingerprint }],
      announced: true,
    });
    const fourth = await ca.renew({ name: 'dave', domain: 'acme', actor: 'cli:test' });
    expect(fourth).toMatchObject({ overlaps: { serial: third.serial }, superseded: [{ serial: second.serial }] });

    const dave = (await ca.list({ domain: 'acme' })).filter((c) => c.client_name === 'dave');
    expect(dave.filter((c) => c.status === 'active').map((c) => c.serial)).toEqual(
      expect.arrayContaining([third.serial, fourth.serial]),
    );
    expect(dave.filter((c) => c.status === 'active')).toHaveLength(2);
    for (const old of [first, second])
      expect(dave.find((c) => c.serial === old.serial)).toMatchObject({ status: 'revoked', reason: 'superseded' });

    const crl = parseCrl(store.loadCrl());
    expect(crl.crlNumber).toBe(fourth.crl_number);
    expect(crl.revokedSerials).toEqual(expect.arrayContaining([first.serial, second.serial]));
    const crlText = openssl(['crl', '-in', store.paths.crl, '-CAfile', store.paths.caCert, '-noout', '-text']).stdout;
    expect(crlText).toContain('Superseded');
    // Announced as a revocation: every broker drops their connections and forgets their identities.
    await expect.poll(() => heard.length).toBe(2);
    expect(heard.map((a) => [a.kind, a.revoked])).toEqual([
      ['revoked', [{ serial: first.serial, fingerprint: first.fingerprint }]],
      ['revoked', [{ serial: second.serial, fingerprint: second.fingerprint }]],
    ]);
    const audit = await ca.audit.list({ limit: 20 });
    expect(audit.find((r) => r.action === 'certificate.revoke' && r.target_id === first.serial)).toMatchObject({
      actor: 'user:7',
      ip: '192.0.2.9',
      domain: 'acme',
      details: { client: 'dave', reason: 'superseded', superseded_by: third.serial },
    });
    expect(audit.find((r) => r.action === 'certificate.renew' && r.target_id === fourth.serial)?.details).toMatchObject(
      { overlaps: [third.serial], superseded: [second.serial] },
    );
  });

  it('two renewals of one client at once still leave two active certificates', async () => {
    const [a, b] = await Promise.all([
      ca.renew({ name: 'dave', domain: 'acme', actor: 'cli:test' }),
      ca.renew({ name: 'dave', domain: 'acme', actor: 'cli:test' }),
    ]);
    const active = (await ca.list({ domain: 'acme' })).filter((c) => c.client_name === 'dave' && c.status === 'active');
    expect(active.map((c) => c.serial).sort()).toEqual([a!.serial, b!.serial].sort());
  });

  it('revokes a serial: the CRL lists it (openssl agrees) and every broker is told', async () => {
    heard.length = 0;
    const outcome = await ca.revoke({ serial: alice.serial.toUpperCase(), reason: 'keyCompromise', actor: 'cli:test' });
    expect(outcome).toMatchObject({
      revoked: [{ serial: alice.serial, fingerprint: alice.fingerprint }],
      announced: true,
    });
    const crlText = openssl([
      'crl',
      '-in',
      store.paths.crl,
      '-CAfile',
      store.paths.caCert,
      '-noout',
      '-verify',
      '-text',
    ]);
    expect(crlText.output).toContain('verify OK');
    expect(crlText.stdout.toLowerCase()).toContain(`serial number: ${alice.serial}`);
    expect(crlText.stdout).toContain('Key Compromise');
    await expect.poll(() => heard.length).toBe(1);
    expect(heard[0]).toMatchObject({
      kind: 'revoked',
      revoked: [{ serial: alice.serial, fingerprint: alice.fingerprint }],
      crl_number: outcome.crl.crl_number,
    });
    expect(parseCrl(heard[0]!.crl_pem).revokedSerials).toContain(alice.serial);
    expect((await readLatestCrl(redis, prefix))?.crl_number).toBe(outcome.crl.crl_number);
    expect((await ca.certificates.findBySerial(alice.serial))?.status).toBe('revoked');
    const [audit] = await ca.audit.list({ limit: 1 });
    expect(audit).toMatchObject({ action: 'certificate.revoke', target_id: alice.serial, domain: 'acme' });
  });

  it('refuses a second revocation, a serial outside the given domain, an unknown serial and reason', async () => {
    await expectCode(ca.revoke({ serial: alice.serial, reason: 'unspecified', actor: 't' }), 'CERT_ALREADY_REVOKED');
    const bob = await ca.issue({ name: 'bob', domain: 'acme', actor: 't' });
    await expectCode(
      ca.revoke({ serial: bob.serial, domain: 'default', reason: 'unspecified', actor: 't' }),
      'CERT_NOT_FOUND',
    );
    await expectCode(ca.revoke({ serial: 'abcdef', reason: 'unspecified', actor: 't' }), 'CERT_NOT_FOUND');
    await expectCode(ca.revoke({ serial: 'xyz', reason: 'unspecified', actor: 't' }), 'INVALID_PAYLOAD');
    await expectCode(
      ca.revoke({ serial: bob.serial, reason: 'because' as 'unspecified', actor: 't' }),
      'INVALID_PAYLOAD',
    );
  });

  it('revokes every active certificate of a client by name', async () => {
    await ca.renew({ name: 'bob', domain: 'acme', actor: 't' });
    const outcome = await ca.revoke({ name: 'bob', domain: 'acme', reason: 'cessationOfOperation', actor: 't' });
    expect(outcome.revoked).toHaveLength(2);
    expect(
      (await ca.list({ domain: 'acme' })).filter((c) => c.client_name === 'bob').every((c) => c.status === 'revoked'),
    ).toBe(true);
    await expectCode(ca.revoke({ name: 'bob', domain: 'acme', reason: 'unspecified', actor: 't' }), 'CERT_NOT_FOUND');
  });

  it('lists days left and flags certificates that expire within 30 days', async () => {
    await ca.issue({ name: 'shortlived', domain: 'default', actor: 't', days: 10 });
    const [summary] = await ca.list({ domain: 'default' });
    expect(summary).toMatchObject({ client_name: 'shortlived', status: 'active', days_left: 9, expiring: true });
  });
});

describe('the CRL', () => {
  it('never loses a revocation when the CLI and the actor sign at the same time', async () => {
    const other = authority(); // the "CLI"
    const issued = await Promise.all(
      ['c1', 'c2', 'c3'].map((name) => ca.issue({ name, domain: 'default', actor: 't' })),
    );
    await Promise.all([
      ...issued.map((bundle, i) =>
        (i % 2 ? ca : other).revoke({ serial: bundle.serial, reason: 'superseded', actor: 't' }),
      ),
      other.crl.rebuild({ actor: 't', kind: 'crl' }),
      ca.crl.rebuild({ actor: 't', kind: 'crl' }),
    ]);
    const onDisk = parseCrl(store.loadCrl());
    for (const bundle of issued) expect(onDisk.revokedSerials).toContain(bundle.serial);
  });

  it('numbers only grow', async () => {
    const first = (await ca.crl.rebuild({ actor: 't', kind: 'crl' })).info.crl_number;
    const second = (await ca.crl.rebuild({ actor: 't', kind: 'crl' })).info.crl_number;
    expect(second).toBeGreaterThan(first);
  });

  it('is re-signed by maintenance once past half its life, and announced', async () => {
    expect(ca.crl.needsRefresh()).toBe(false);
    expect(ca.crl.needsRefresh(Date.now() + 4 * DAY)).toBe(true); // crl_days 7
    const old = parseCrl(store.loadCrl());
    store.saveCrl(
      buildCrl(store.loadCa(), {
        revoked: [],
        thisUpdate: new Date(Date.now() - 5 * DAY),
        nextUpdate: new Date(Date.now() + 2 * DAY),
        crlNumber: old.crlNumber + 1,
      }),
    );
    heard.length = 0;
    const result = await maintainPki(lifecycle);
    expect(result.crl_signed).toBe(true);
    const fresh = parseCrl(store.loadCrl());
    expect(fresh.nextUpdate.getTime() - Date.now()).toBeGreaterThan(6 * DAY);
    expect(fresh.revokedSerials.length).toBe(old.revokedSerials.length);
    await expect.poll(() => heard.map((a) => a.crl_number)).toContain(fresh.crlNumber);
  });

  it('keeps a revocation it could not announce and sends it with the next announcement', async () => {
    let redisDown = true;
    const flaky = authority((a) =>
      redisDown ? Promise.reject(new Error('Redis down')) : announceCrl(redis, prefix, a),
    );
    const victim = await flaky.issue({ name: 'victim', domain: 'default', actor: 't' });
    const outcome = await flaky.revoke({ serial: victim.serial, reason: 'unspecified', actor: 't' });
    expect(outcome.announced).toBe(false);
    expect(parseCrl(store.loadCrl()).revokedSerials).toContain(victim.serial); // the revocation itself stands
    redisDown = false;
    heard.length = 0;
    expect(await flaky.crl.announcePending()).toBe(true);
    await expect.poll(() => heard.length).toBe(1);
    expect(heard[0]!.revoked).toEqual([{ serial: victim.serial, fingerprint: victim.fingerprint }]);
  });
});

describe('bootstrap and the server certificate', () => {
  it('creates server, delivery and demo certificates once, and keeps them on the next start', async () => {
    const request = { hostnames: ['localhost', '127.0.0.1', '::1'], demo: { name: 'demo', domain: 'default' } };
    const first = await bootstrapPki(lifecycle, request);
    // (The maintenance run above already issued the missing server certificate.)
    expect(first).toMatchObject({ created_ca: false, demo: { common_name: 'demo.default', created: true } });
    expect(openssl(['verify', '-CAfile', store.paths.caCert, store.paths.serverCert]).stdout).toContain('OK');
    const again = await bootstrapPki(lifecycle, request);
    expect(again).toMatchObject({ server_issued: false, demo: { created: false } });
    expect(readFileSync(join(store.clientBundleDir('demo.default'), 'client.key'), 'utf8')).toContain('PRIVATE KEY');
  });

  it('issues its delivery certificate on a host whose name is longer than a CN holds (that stopped the first start)', async () => {
    rmSync(store.paths.deliveryClientCert);
    rmSync(store.paths.deliveryClientKey);
    const instance = `broker-${'h'.repeat(50)}.example.internal`; // the default instance_id is the host name
    const longHost = loadConfig({
      values: {
        instance_id: instance,
        pki: { dir: work.dir },
        domains: [{ name: 'default' }],
        redis: { key_prefix: prefix },
      },
      env: {},
    });
    await bootstrapPki({ ...lifecycle, config: longHost }, { hostnames: ['localhost'], demo: null });
    const subject = new X509Certificate(readFileSync(store.paths.deliveryClientCert)).subject;
    expect(subject).toMatch(/^CN=broker\.broker-h{40,}-[0-9a-f]{8}$/m);
    expect(deliveryClientCommonName('b-1')).toBe('broker.b-1');
    expect(deliveryClientCommonName(instance)).toHaveLength(64);
    // Names that differ only past the cut keep different CNs.
    expect(deliveryClientCommonName(`${instance}-2`)).not.toBe(deliveryClientCommonName(instance));
  });

  it('issues the server certificate when the first public hostname is longer than a CN holds (that stopped the start)', async () => {
    const balancer = 'internal-mb-nlb-0123456789abcdef0123.elb.eu-central-1.amazonaws.com'; // 68 characters
    const result = await bootstrapPki(lifecycle, { hostnames: [balancer, 'localhost'], demo: null });
    expect(result.server_issued).toBe(true);
    const server = new X509Certificate(readFileSync(store.paths.serverCert));
    expect(server.subject).toContain('CN=localhost');
    expect(server.checkHost(balancer)).toBe(balancer);
    expect(serverCommonName([balancer])).toBe('Message Broker server');
    await bootstrapPki(lifecycle, { hostnames: ['localhost', '127.0.0.1', '::1'], demo: null });
  });

  it('tightens a certs/ directory (and its client folders) looser than 0700 at start, with a warning naming it', async () => {
    const request = { hostnames: ['localhost', '127.0.0.1', '::1'], demo: { name: 'demo', domain: 'default' } };
    await bootstrapPki(lifecycle, request);
    const demoDir = store.clientBundleDir('demo.default');
    for (const dir of [store.dir, store.paths.clients, demoDir]) chmodSync(dir, 0o755);
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line));
        done();
      },
    });
    await bootstrapPki({ ...lifecycle, logger: createLogger('warn', {}, sink) }, request);
    for (const dir of [store.dir, store.paths.clients, demoDir]) expect(statSync(dir).mode & 0o777).toBe(0o700);
    const warned = lines.filter((l) => String(l.msg).includes('tightened'));
    expect(warned.map((l) => l.path).sort()).toEqual([store.dir, store.paths.clients, demoDir].sort());
    expect(warned[0]).toMatchObject({ was: '755', now: '700' });
  });

  it('renews the server certificate when it is near its end, for another CA or other hostnames', () => {
    const hostnames = ['localhost', '127.0.0.1', '::1'];
    const caPem = store.loadCa().certPem;
    const fresh = issueServerCertificate(store.loadCa(), { commonName: 'localhost', hostnames, days: 397 });
    expect(serverRenewalReason(fresh.certPem, caPem, hostnames)).toBeUndefined();
    expect(serverRenewalReason(fresh.certPem, caPem, [...hostnames, 'broker.example'])).toBe('hostnames changed');
    expect(serverRenewalReason(fresh.certPem, caPem, hostnames, Date.now() + 380 * DAY)).toBe('expiring');
    // A 30-day certificate is not renewed on every check: a third of its life is the bar.
    const short = issueServerCertificate(store.loadCa(), { commonName: 'localhost', hostnames, days: 30 });
    expect(serverRenewalReason(short.certPem, caPem, hostnames)).toBeUndefined();
    expect(serverRenewalReason(short.certPem, caPem, hostnames, Date.now() + 21 * DAY)).toBe('expiring');
    const foreign = opensslCa(work, '/CN=Elsewhere', 'elsewhere');
    expect(
      serverRenewalReason(
        issueServerCertificate(foreign, { commonName: 'localhost', hostnames, days: 397 }).certPem,
        caPem,
        hostnames,
      ),
    ).toBe('issued by another CA');
  });
});

describe('the shared identity cache', () => {
  it('gets the identity of each certificate issued or renewed, as the MySQL lookup would answer it', async () => {
    const shared = new SharedIdentityCache(redis, prefix, DAY);
    const sharing = new CertificateAuthority({
      config: config(),
      store,
      db: handle.db,
      logger,
      origin: 'test',
      shareIdentity: (identity) => shared.remember(identity),
    });
    const issued = await sharing.issue({ name: 'shared', domain: 'acme', actor: 'cli:test', days: 30 });
    const renewed = await sharing.renew({ name: 'shared', domain: 'acme', actor: 'cli:test', days: 30 });
    for (const bundle of [issued, renewed]) {
      const { certificate_id: _id, ...fromMysql } = (await sharing.certificates.findIdentityByFingerprint(
        bundle.fingerprint,
      ))!;
      expect(await shared.read(bundle.fingerprint)).toEqual(fromMysql);
    }
  });

  it('still issues when Redis refuses the identity (it is shared at its first lookup)', async () => {
    const failing = new CertificateAuthority({
      config: config(),
      store,
      db: handle.db,
      logger,
      origin: 'test',
      shareIdentity: () => Promise.reject(new Error('Redis down')),
    });
    const issued = await failing.issue({ name: 'unshared', domain: 'acme', actor: 'cli:test', days: 30 });
    expect(await failing.certificates.findIdentityByFingerprint(issued.fingerprint)).toBeDefined();
  });
});

describe('a replaced CA', () => {
  // Last in the file: it replaces the CA every test above used.
  it('the next start re-issues the demo and delivery certificates the old CA signed', async () => {
    const request = { hostnames: ['localhost'], demo: { name: 'demo', domain: 'default' } };
    await bootstrapPki(lifecycle, request);
    await initCa(lifecycle, { overwrite: true, actor: 'cli:test' });
    const started = await bootstrapPki(lifecycle, request);
    // Before: both kept the old CA's certificates, and the welcome's curl failed.
    expect(started.demo).toMatchObject({ created: true });
    const demoCert = join(store.clientBundleDir('demo.default'), 'client.crt');
    expect(openssl(['verify', '-CAfile', store.paths.caCert, demoCert]).stdout).toContain('OK');
    expect(readFileSync(join(store.clientBundleDir('demo.default'), 'ca.crt'), 'utf8')).toBe(
      readFileSync(store.paths.caCert, 'utf8'),
    );
    expect(openssl(['verify', '-CAfile', store.paths.caCert, store.paths.deliveryClientCert]).stdout).toContain('OK');
    expect(await bootstrapPki(lifecycle, request)).toMatchObject({ demo: { created: false } });
  });
});
