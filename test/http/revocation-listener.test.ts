/**
 * The front's revocation listener over the real Redis: announcements (pub/sub), the
 * catch-up key, and certs/ polling drive the TLS reloader and the identity resolver; client
 * status announcements (disable/enable on another broker) drive the identity resolver.
 * Sockets are stand-ins, so that what happens to each one is observable.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrokerError } from '../../src/errors.js';
import { IdentityResolver, type IdentityRow, type PeerCertificate } from '../../src/http/client-identity.js';
import { RevocationListener } from '../../src/http/revocation-listener.js';
import { TlsReloader } from '../../src/http/tls-reloader.js';
import { createLogger } from '../../src/logger.js';
import { CertStore } from '../../src/pki/cert-store.js';
import { buildCrl } from '../../src/pki/crl.js';
import { issueServerCertificate } from '../../src/pki/issue.js';
import { randomSerialHex } from '../../src/pki/serial.js';
import { makeWorkdir, opensslCa, type Workdir } from '../../src/pki/openssl.test-support.js';
import type { CaMaterial } from '../../src/pki/pki.types.js';
import { announceClientStatus, type AnnouncedClientStatus } from '../../src/queue/client-status-events.js';
import { SharedIdentityCache } from '../../src/queue/identity-cache.js';
import { announceCrl, type CrlAnnouncement } from '../../src/queue/revocation-events.js';
import { deleteKeys } from '../support/broker-harness.js';

const REDIS_URL = 'redis://127.0.0.1:6379';
const DAY = 86_400_000;
const prefix = `mbtest:${randomBytes(5).toString('hex')}:`;
const logger = createLogger('silent');

class FakeSocket extends EventEmitter {
  destroyed = false;
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.emit('close');
  }
}

let work: Workdir;
let ca: CaMaterial;
let store: CertStore;
let redis: Redis;
let tls: TlsReloader;
let identity: IdentityResolver;
let listener: RevocationListener;
let crlNumber = 10;
const peers = new WeakMap<object, PeerCertificate>();
const rows = new Map<string, IdentityRow>();

function crl(serials: string[], authority = ca, number = ++crlNumber): { pem: string; number: number } {
  const revoked = serials.map((serialHex) => ({ serialHex, revokedAt: new Date() }));
  return {
    pem: buildCrl(authority, {
      revoked,
      thisUpdate: new Date(Date.now() - 60_000),
      nextUpdate: new Date(Date.now() + 7 * DAY),
      crlNumber: number,
    }),
    number,
  };
}

function announcement(
  list: { pem: string; number: number },
  revoked: Array<{ serial: string; fingerprint: string }>,
): CrlAnnouncement {
  return {
    v: 1,
    kind: 'revoked',
    revoked,
    crl_pem: list.pem,
    crl_number: list.number,
    origin: 'test',
    at: new Date().toISOString(),
  };
}

/** A connected client whose identity is already resolved (as after its first request). */
async function connectedClient(
  name: string,
  spelling = (serial: string) => serial,
): Promise<{ socket: FakeSocket; serial: string; fingerprint: string }> {
  const serial = randomSerialHex();
  const fingerprint = randomBytes(32).toString('hex');
  rows.set(fingerprint, {
    serial: spelling(serial),
    fingerprint,
    cert_status: 'active',
    not_before: new Date(Date.now() - DAY),
    not_after: new Date(Date.now() + DAY),
    client_id: rows.size + 1,
    client_name: name,
    domain: 'default',
    client_status: 'active',
  });
  const socket = new FakeSocket();
  peers.set(socket, { present: true, authorized: true, fingerprint, commonName: `${name}.default` });
  await identity.resolve(socket as unknown as Socket);
  return { socket, serial, fingerprint };
}

beforeAll(async () => {
  work = makeWorkdir('mb-revocation-');
  ca = opensslCa(work, '/O=Message Broker/CN=Listener Test CA', 'ca');
  store = new CertStore(join(work.dir, 'certs'));
  store.saveCa(ca);
  const server = issueServerCertificate(ca, { commonName: 'localhost', hostnames: ['localhost'], days: 30 });
  store.saveServer(server);
  const initial = crl([]);
  store.saveCrl(initial.pem);
  redis = new Redis(REDIS_URL);
  // Published before the listener starts: it must catch up from the key.
  const early = crl([]);
  await announceCrl(redis, prefix, announcement(early, []));
  tls = new TlsReloader(
    { key: server.keyPem, cert: server.certPem, ca: ca.certPem, crl: initial.pem },
    'TLSv1.2',
    logger,
  );
  identity = new IdentityResolver(
    async (fp) => rows.get(fp),
    60_000,
    (socket) => peers.get(socket) ?? { present: false, authorized: false },
  );
  listener = new RevocationListener({
    tls,
    identity,
    store,
    logger,
    keyPrefix: prefix,
    redis,
    subscriber: new Redis(REDIS_URL),
    checkIntervalMs: 200,
    clientStatusOf: async (id) => [...rows.values()].find((r) => r.client_id === id)?.client_status,
  });
  await listener.start();
});

afterAll(async () => {
  listener?.stop();
  await deleteKeys(REDIS_URL, prefix);
  redis?.disconnect();
  work?.remove();
});

describe('RevocationListener', () => {
  it('catches up on start with the last announcement kept in Redis', () => {
    expect(tls.crl?.crlNumber).toBe(crlNumber);
  });

  it("reloads the CRL, refuses the revoked client's next request, closes its sockets and keeps the others", async () => {
    const victim = await connectedClient('victim');
    const secondSocket = new FakeSocket();
    peers.set(secondSocket, peers.get(victim.socket)!);
    await identity.resolve(secondSocket as unknown as Socket);
    const bystander = await connectedClient('bystander');
    const list = crl([victim.serial]);
    const published = Date.now();
    await announceCrl(redis, prefix, announcement(list, [{ serial: victim.serial, fingerprint: victim.fingerprint }]));

    await expect.poll(() => tls.crl?.crlNumber, { timeout: 2000, interval: 5 }).toBe(list.number);
    await expect(identity.resolve(victim.socket as unknown as Socket)).rejects.toSatisfy(
      (e) => e instanceof BrokerError && e.code === 'CERT_REVOKED',
    );
    await expect
      .poll(() => victim.socket.destroyed && secondSocket.destroyed, { timeout: 2000, interval: 10 })
      .toBe(true);
    expect(Date.now() - published).toBeLessThan(1000);
    expect(bystander.socket.destroyed).toBe(false);
    await expect(identity.resolve(bystander.socket as unknown as Socket)).resolves.toMatchObject({
      client_name: 'bystander',
    });
    // Hosts without the CA keep what they were sent, for their next start.
    expect(store.loadCrl()).toBe(list.pem);
  });

  it('ignores a CRL signed by another CA and one older than the CRL in force', async () => {
    const target = await connectedClient('target');
    const before = tls.crl?.crlNumber;
    const impostor = opensslCa(work, '/O=Message Broker/CN=Listener Test CA', 'impostor');
    await announceCrl(
      redis,
      prefix,
      announcement(crl([target.serial], impostor, crlNumber + 100), [
        { serial: target.serial, fingerprint: target.fingerprint },
      ]),
    );
    await announceCrl(
      redis,
      prefix,
      announcement(crl([target.serial], ca, 1), [{ serial: target.serial, fingerprint: target.fingerprint }]),
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(tls.crl?.crlNumber).toBe(before);
    expect(target.socket.destroyed).toBe(false);
  });

  it('closes nobody the signed CRL does not list, whatever the message claims', async () => {
    const innocent = await connectedClient('innocent');
    const list = crl([]);
    await announceCrl(
      redis,
      prefix,
      announcement(list, [{ serial: innocent.serial, fingerprint: innocent.fingerprint }]),
    );
    await expect.poll(() => tls.crl?.crlNumber, { timeout: 2000 }).toBe(list.number);
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(innocent.socket.destroyed).toBe(false);
  });

  it('matches serials however they are spelled (sign byte, colons, upper case, 0x)', async () => {
    // Its row spells the serial oddly and the announcement does not name it: found through the CRL alone.
    const oddRow = await connectedClient('odd-row', (serial) =>
      `00${serial}`.toUpperCase().replace(/(..)(?!$)/g, '$1:'),
    );
    // Named by the announcement with a 0x spelling.
    const oddNamed = await connectedClient('odd-named');
    const list = crl([oddRow.serial, oddNamed.serial]);
    await announceCrl(
      redis,
      prefix,
      announcement(list, [{ serial: `0x${oddNamed.serial.toUpperCase()}`, fingerprint: oddNamed.fingerprint }]),
    );
    await expect.poll(() => tls.crl?.crlNumber, { timeout: 3000 }).toBe(list.number);
    await expect.poll(() => oddRow.socket.destroyed && oddNamed.socket.destroyed, { timeout: 5000 }).toBe(true);
  });

  it('picks up a CRL and a server certificate replaced in certs/ (the CA on this host)', async () => {
    const missed = await connectedClient('missed');
    const list = crl([missed.serial]);
    store.saveCrl(list.pem); // as if the announcement never arrived
    const renewed = issueServerCertificate(ca, { commonName: 'localhost', hostnames: ['localhost'], days: 90 });
    store.saveServer(renewed);
    await expect.poll(() => tls.crl?.crlNumber, { timeout: 3000 }).toBe(list.number);
    await expect.poll(() => missed.socket.destroyed, { timeout: 5000 }).toBe(true);
    await expect
      .poll(() => tls.serverCertificateNotAfter.getTime(), { timeout: 3000 })
      .toBe(renewed.notAfter.getTime());
    expect(tls.material.cert).toBe(renewed.certPem);
  });
});

describe('client status announcements (disable/enable on another broker)', () => {
  /** What another broker does: the row changes in MySQL, then the announcement. */
  async function setStatusElsewhere(fingerprint: string, status: AnnouncedClientStatus, inDatabase = status) {
    const row = rows.get(fingerprint)!;
    rows.set(fingerprint, { ...row, client_status: inDatabase });
    await announceClientStatus(redis, prefix, {
      v: 1,
      kind: 'client-status',
      client_id: row.client_id,
      common_name: `${row.client_name}.${row.domain}`,
      status,
      origin: 'portal@elsewhere',
      at: new Date().toISOString(),
    });
  }

  const peerByFingerprint = new Map<string, PeerCertificate>();

  /** A new connection of an already known client, not served yet. */
  function newSocketOf(fingerprint: string): Socket {
    const socket = new FakeSocket();
    peers.set(socket, peerByFingerprint.get(fingerprint)!);
    return socket as unknown as Socket;
  }

  async function client(name: string) {
    const c = await connectedClient(name);
    peerByFingerprint.set(c.fingerprint, peers.get(c.socket)!);
    return c;
  }

  it("disabled: the client's open connections refuse their next request and close within 1 s, new ones are refused, others stay", async () => {
    const victim = await client('disabled-elsewhere');
    const second = newSocketOf(victim.fingerprint);
    await identity.resolve(second); // served: its identity (client active) is held by the connection
    const bystander = await client('still-active');
    const published = Date.now();
    await setStatusElsewhere(victim.fingerprint, 'disabled');

    await expect
      .poll(
        () =>
          identity.resolve(victim.socket as unknown as Socket).then(
            () => 'accepted',
            (e: unknown) => (e instanceof BrokerError ? e.code : 'other'),
          ),
        { timeout: 1000, interval: 10 },
      )
      .toBe('CLIENT_DISABLED');
    await expect
      .poll(() => victim.socket.destroyed && (second as unknown as FakeSocket).destroyed, {
        timeout: 2000,
        interval: 10,
      })
      .toBe(true);
    expect(Date.now() - published).toBeLessThan(1000);
    // A new connection is not served from the identity cache (60 s here): the database says disabled.
    await expect(identity.resolve(newSocketOf(victim.fingerprint))).rejects.toSatisfy(
      (e) => e instanceof BrokerError && e.code === 'CLIENT_DISABLED',
    );
    expect(bystander.socket.destroyed).toBe(false);
    await expect(identity.resolve(bystander.socket as unknown as Socket)).resolves.toMatchObject({
      client_name: 'still-active',
    });
  });

  it('enabled: new connections are accepted at once, not after the cached refusal expires', async () => {
    const returning = await client('enabled-elsewhere');
    await setStatusElsewhere(returning.fingerprint, 'disabled');
    await expect.poll(() => returning.socket.destroyed, { timeout: 2000, interval: 10 }).toBe(true);
    await expect(identity.resolve(newSocketOf(returning.fingerprint))).rejects.toThrow(BrokerError);
    await setStatusElsewhere(returning.fingerprint, 'active');
    await expect
      .poll(
        () =>
          identity.resolve(newSocketOf(returning.fingerprint)).then(
            (who) => who.client_name,
            () => 'refused',
          ),
        { timeout: 1000, interval: 10 },
      )
      .toBe('enabled-elsewhere');
  });

  it('takes the status from the database, not from the message: a forged "disabled" closes nothing', async () => {
    const target = await client('forged-target');
    await setStatusElsewhere(target.fingerprint, 'disabled', 'active');
    await new Promise((resolve) => setTimeout(resolve, 700));
    expect(target.socket.destroyed).toBe(false);
    await expect(identity.resolve(target.socket as unknown as Socket)).resolves.toMatchObject({
      client_name: 'forged-target',
    });
  });

  it('ignores malformed messages on the channel', async () => {
    const target = await client('malformed-target');
    rows.set(target.fingerprint, { ...rows.get(target.fingerprint)!, client_status: 'disabled' });
    const channel = `${prefix}events:client-status`;
    const id = rows.get(target.fingerprint)!.client_id;
    for (const message of [
      'not json',
      JSON.stringify({ v: 2, kind: 'client-status', client_id: id, common_name: 'x', status: 'disabled' }),
      JSON.stringify({ v: 1, kind: 'client-status', client_id: String(id), common_name: 'x', status: 'disabled' }),
      JSON.stringify({ v: 1, kind: 'client-status', client_id: id, common_name: 'x', status: 'gone' }),
    ])
      await redis.publish(channel, message);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(target.socket.destroyed).toBe(false);
    rows.set(target.fingerprint, { ...rows.get(target.fingerprint)!, client_status: 'active' });
  });
});

describe('client status announcements while MySQL is away (shared identity cache)', () => {
  it('a disable announced with its marker closes the client’s connections; an announcement without one closes nothing', async () => {
    const shared = new SharedIdentityCache(redis, prefix, DAY);
    let mysqlUp = true;
    const lookup = async (fp: string) => {
      if (!mysqlUp) throw new Error('connect ECONNREFUSED');
      return rows.get(fp);
    };
    const resolver = new IdentityResolver(
      lookup,
      0,
      (socket) => peers.get(socket) ?? { present: false, authorized: false },
      shared,
    );
    const away = new RevocationListener({
      tls,
      identity: resolver,
      store,
      logger,
      keyPrefix: prefix,
      redis,
      subscriber: new Redis(REDIS_URL, { lazyConnect: true }),
      checkIntervalMs: 60_000,
      clientStatusOf: async (id) => {
        if (!mysqlUp) throw new Error('connect ECONNREFUSED');
        return [...rows.values()].find((r) => r.client_id === id)?.client_status;
      },
      markedDisabled: (id) => shared.isMarkedDisabled(id),
    });
    const open = async (name: string) => {
      const c = await connectedClient(name);
      const socket = new FakeSocket();
      peers.set(socket, peers.get(c.socket)!);
      await resolver.resolve(socket as unknown as Socket); // MySQL answers, and the identity is shared
      await expect.poll(() => shared.read(c.fingerprint)).toBeDefined();
      return { socket, row: rows.get(c.fingerprint)! };
    };
    const victim = await open('disabled-in-outage');
    const unmarked = await open('unmarked-in-outage');
    mysqlUp = false;
    const statusOf = (row: IdentityRow, status: AnnouncedClientStatus) => ({
      v: 1 as const,
      kind: 'client-status' as const,
      client_id: row.client_id,
      common_name: `${row.client_name}.${row.domain}`,
      status,
      origin: 'cli@elsewhere',
      at: new Date().toISOString(),
    });
    // The announcer (another host, which reaches MySQL) sets the marker with its message.
    await announceClientStatus(redis, prefix, statusOf(victim.row, 'disabled'));
    await away.onClientStatus(statusOf(victim.row, 'disabled'));
    await expect.poll(() => victim.socket.destroyed, { timeout: 2000, interval: 10 }).toBe(true);
    const fresh = new FakeSocket();
    peers.set(fresh, peers.get(victim.socket)!);
    await expect(resolver.resolve(fresh as unknown as Socket)).rejects.toSatisfy(
      (e) => e instanceof BrokerError && e.code === 'CLIENT_DISABLED',
    );
    // A message without the marker (published by hand, forged): nobody is closed.
    await away.onClientStatus(statusOf(unmarked.row, 'disabled'));
    await new Promise((resolve) => setTimeout(resolve, 700));
    expect(unmarked.socket.destroyed).toBe(false);
    await expect(resolver.resolve(unmarked.socket as unknown as Socket)).resolves.toMatchObject({
      client_name: 'unmarked-in-outage',
    });
  });

  it('applies the last announcement once at start, not once more at the first ready', async () => {
    const ownPrefix = `${prefix}start:`;
    const { serial, fingerprint } = await connectedClient('at-start');
    await announceCrl(redis, ownPrefix, announcement(crl([serial]), [{ serial, fingerprint }]));
    const lines: string[] = [];
    const subscriber = new Redis(REDIS_URL);
    const starting = new RevocationListener({
      tls,
      identity,
      store,
      logger: createLogger('info', {}, { write: (line: string) => void lines.push(line) }),
      keyPrefix: ownPrefix,
      redis,
      subscriber,
      checkIntervalMs: 60_000,
      clientStatusOf: async () => 'active',
    });
    try {
      await starting.start();
      if (subscriber.status !== 'ready') await new Promise((resolve) => subscriber.once('ready', resolve));
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(lines.filter((l) => l.includes('"revocation applied"'))).toHaveLength(1);
    } finally {
      starting.stop();
    }
  });
});
