/**
 * The identity cache shared in Redis, against the real Redis: the resolver falls back to it
 * only when MySQL fails, MySQL's accepted answers are written to it, and the revocation and
 * disable announcements take identities out of it (src/queue/identity-cache.ts).
 */
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { BrokerError } from '../../src/errors.js';
import { identityLookupsTotal } from '../../src/http/api.metrics.js';
import { IdentityResolver, type IdentityRow } from '../../src/http/client-identity.js';
import { announceClientStatus } from '../../src/queue/client-status-events.js';
import { SharedIdentityCache } from '../../src/queue/identity-cache.js';
import { identityKey } from '../../src/queue/keys.js';
import { announceCrl } from '../../src/queue/revocation-events.js';
import { useTestRedis } from '../support/test-fixtures.js';

const { prefix, redis } = useTestRedis();
const DAY_MS = 86_400_000;

let nextId = 1;
function identityRow(overrides: Partial<IdentityRow> = {}): IdentityRow {
  const n = nextId++;
  return {
    serial: `0${n}`,
    fingerprint: `${n}`.padStart(64, 'a'),
    cert_status: 'active',
    not_before: new Date(Date.now() - 60_000),
    not_after: new Date(Date.now() + 365 * DAY_MS),
    client_id: 100 + n,
    client_name: `gw${n}`,
    domain: 'alpha',
    client_status: 'active',
    ...overrides,
  };
}

const socket = () => new EventEmitter() as unknown as Socket;
const peerOf = (row: IdentityRow) => () => ({
  present: true,
  authorized: true,
  fingerprint: row.fingerprint,
  commonName: `${row.client_name}.${row.domain}`,
});

const mysqlDown = async (): Promise<IdentityRow | undefined> => {
  throw new Error('connect ECONNREFUSED 127.0.0.1:3306');
};

async function lookups(source: string): Promise<number> {
  const metric = await identityLookupsTotal.get();
  return metric.values.find((v) => v.labels.source === source)?.value ?? 0;
}

const refusedWith = (code: string) => (e: unknown) => e instanceof BrokerError && e.code === code;

describe('SharedIdentityCache', () => {
  const cache = new SharedIdentityCache(redis, prefix, 7 * DAY_MS);

  it('keeps an accepted identity, dates and all, for at most its TTL', async () => {
    const row = identityRow();
    await cache.remember(row);
    expect(await cache.read(row.fingerprint)).toEqual(row);
    const ttl = await redis.pttl(identityKey(prefix, row.fingerprint));
    expect(ttl).toBeGreaterThan(7 * DAY_MS - 60_000);
    expect(ttl).toBeLessThanOrEqual(7 * DAY_MS);
  });

  it('never keeps it past the certificate’s expiry', async () => {
    const row = identityRow({ not_after: new Date(Date.now() + 60_000) });
    await cache.remember(row);
    expect(await redis.pttl(identityKey(prefix, row.fingerprint))).toBeLessThanOrEqual(60_000);
  });

  it('writes nothing for a revoked or expired certificate or a disabled client', async () => {
    for (const row of [
      identityRow({ cert_status: 'revoked' }),
      identityRow({ cert_status: 'expired' }),
      identityRow({ client_status: 'disabled' }),
      identityRow({ not_after: new Date(Date.now() - 1000) }),
    ]) {
      await cache.remember(row);
      expect(await redis.exists(identityKey(prefix, row.fingerprint))).toBe(0);
    }
  });

  it('ignores an entry filed under another fingerprint or of an unknown shape', async () => {
    const row = identityRow();
    const other = identityRow();
    await cache.remember(row);
    await redis.set(identityKey(prefix, other.fingerprint), (await redis.get(identityKey(prefix, row.fingerprint)))!);
    expect(await cache.read(other.fingerprint)).toBeUndefined();
    await redis.set(identityKey(prefix, other.fingerprint), '{"v":2}');
    expect(await cache.read(other.fingerprint)).toBeUndefined();
  });

  it('a revocation announcement deletes the revoked certificates’ entries in its transaction', async () => {
    const revoked = identityRow();
    const kept = identityRow();
    await cache.remember(revoked);
    await cache.remember(kept);
    await announceCrl(redis, prefix, {
      v: 1,
      kind: 'revoked',
      revoked: [{ serial: revoked.serial, fingerprint: revoked.fingerprint.toUpperCase() }],
      crl_pem: '-----BEGIN X509 CRL-----\n-----END X509 CRL-----\n',
      crl_number: 1,
      origin: 'test',
      at: new Date().toISOString(),
    });
    expect(await cache.read(revoked.fingerprint)).toBeUndefined();
    expect(await cache.read(kept.fingerprint)).toEqual(kept);
  });

  it('a disable announcement marks the client, an enable clears the mark, entries untouched', async () => {
    const row = identityRow();
    await cache.remember(row);
    const announce = (status: 'active' | 'disabled') =>
      announceClientStatus(redis, prefix, {
        v: 1,
        kind: 'client-status',
        client_id: row.client_id,
        common_name: `${row.client_name}.${row.domain}`,
        status,
        origin: 'test',
        at: new Date().toISOString(),
      });
    await announce('disabled');
    expect((await cache.read(row.fingerprint))?.client_status).toBe('disabled');
    expect(await cache.isMarkedDisabled(row.client_id)).toBe(true);
    // A broker that read "active" just before the disable writes it back: still masked.
    await cache.remember(row);
    expect((await cache.read(row.fingerprint))?.client_status).toBe('disabled');
    await announce('active');
    expect(await cache.read(row.fingerprint)).toEqual(row);
  });
});

describe('IdentityResolver with the shared cache', () => {
  const cache = new SharedIdentityCache(redis, prefix, 7 * DAY_MS);

  it('asks MySQL first and shares what it accepted; memory answers the next connection', async () => {
    const row = identityRow();
    const before = { mysql: await lookups('mysql'), memory: await lookups('memory') };
    const identity = new IdentityResolver(async () => row, 60_000, peerOf(row), cache);
    expect((await identity.resolve(socket())).client_id).toBe(row.client_id);
    expect((await identity.resolve(socket())).client_id).toBe(row.client_id);
    expect(await lookups('mysql')).toBe(before.mysql + 1);
    expect(await lookups('memory')).toBe(before.memory + 1);
    // Written in the background, best effort.
    await expect.poll(() => cache.read(row.fingerprint)).toEqual(row);
  });

  it('does not use Redis while MySQL answers, even when the two disagree', async () => {
    const row = identityRow();
    await cache.remember(row);
    const identity = new IdentityResolver(async () => ({ ...row, client_status: 'disabled' }), 0, peerOf(row), cache);
    await expect(identity.resolve(socket())).rejects.toSatisfy(refusedWith('CLIENT_DISABLED'));
  });

  it('with MySQL away, accepts a new connection of a client another broker resolved', async () => {
    const row = identityRow();
    await cache.remember(row); // as another broker (or the CA at issue) did
    const before = await lookups('redis');
    const identity = new IdentityResolver(mysqlDown, 0, peerOf(row), cache);
    const resolved = await identity.resolve(socket());
    expect(resolved).toMatchObject({ client_id: row.client_id, common_name: `${row.client_name}.${row.domain}` });
    expect(await lookups('redis')).toBe(before + 1);
  });

  it('with MySQL hanging (no answer, no error), answers from Redis after a bounded wait', async () => {
    const row = identityRow();
    await cache.remember(row);
    const hanging = () => new Promise<IdentityRow | undefined>(() => undefined);
    const started = Date.now();
    const resolved = await new IdentityResolver(hanging, 0, peerOf(row), cache).resolve(socket());
    expect(resolved.client_id).toBe(row.client_id);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1900);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('with MySQL away, refuses a client marked disabled and answers 503 for one never seen', async () => {
    const disabled = identityRow();
    await cache.remember(disabled);
    await announceClientStatus(redis, prefix, {
      v: 1,
      kind: 'client-status',
      client_id: disabled.client_id,
      common_name: 'x',
      status: 'disabled',
      origin: 'test',
      at: new Date().toISOString(),
    });
    await expect(new IdentityResolver(mysqlDown, 0, peerOf(disabled), cache).resolve(socket())).rejects.toSatisfy(
      refusedWith('CLIENT_DISABLED'),
    );
    const stranger = identityRow();
    const before = await lookups('none');
    const pending = new IdentityResolver(mysqlDown, 0, peerOf(stranger), cache).resolve(socket());
    await expect(pending).rejects.toSatisfy(refusedWith('STORAGE_UNAVAILABLE'));
    expect(await lookups('none')).toBe(before + 1);
  });

  it('with MySQL away, still refuses a certificate whose CN is not the registered client', async () => {
    const row = identityRow();
    await cache.remember(row);
    const identity = new IdentityResolver(
      mysqlDown,
      0,
      () => ({ present: true, authorized: true, fingerprint: row.fingerprint, commonName: 'someone.else' }),
      cache,
    );
    await expect(identity.resolve(socket())).rejects.toSatisfy(refusedWith('CERT_UNKNOWN'));
  });

  it('without a shared cache, MySQL away is 503 as before', async () => {
    const row = identityRow();
    await cache.remember(row);
    await expect(new IdentityResolver(mysqlDown, 0, peerOf(row)).resolve(socket())).rejects.toSatisfy(
      refusedWith('STORAGE_UNAVAILABLE'),
    );
  });
});
