/**
 * Retention purge and client erasure against real MariaDB and Redis: what goes, what
 * stays (other domains, keep-forever domains, deliveries in progress for mb purge), the
 * audit entries, and that two brokers' schedulers never purge together.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { KeyStore } from '../../src/crypto/key-store.js';
import { loadConfig, type BrokerConfig } from '../../src/config/config.js';
import { LiveConfig } from '../../src/config/live-config.js';
import { AuditRepository } from '../../src/db/audit.repository.js';
import { ClientsRepository } from '../../src/db/clients.repository.js';
import { MessagesRepository } from '../../src/db/messages.repository.js';
import { RetentionRepository } from '../../src/db/retention.repository.js';
import { createLogger } from '../../src/logger.js';
import { domainKeys, targetKeysOf } from '../../src/queue/keys.js';
import { RetentionScheduler } from '../../src/retention/retention.scheduler.js';
import { RetentionService } from '../../src/retention/retention.service.js';
import { sealedRows } from '../support/sealed-rows.js';
import { useTestDatabase, useTestRedis } from '../support/test-fixtures.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const DAY = 86_400_000;
const { handle } = useTestDatabase({ poolSize: 3 });
const { redis, prefix } = useTestRedis();
let config: Readonly<BrokerConfig>;
let store: KeyStore;
let dir: string;
let service: RetentionService;
let audit: AuditRepository;

beforeAll(async () => {
  config = loadConfig({
    values: {
      redis: { key_prefix: prefix },
      retention: { days: 30, batch_size: 7 },
      domains: [
        { name: 'default' },
        { name: 'forever', retention_days: 0 },
        { name: 'short', retention_days: 1, target: { type: 'webhook', url: 'https://x.test/', secret: 's' } },
        {
          name: 'routed',
          retention_days: 0,
          targets: {
            eu: { type: 'webhook', url: 'https://eu.test/', secret: 's' },
            us: { type: 'webhook', url: 'https://us.test/', secret: 's' },
          },
          routes: [
            { name: 'uk', match: { sender_prefix: '+44' }, target: 'eu' },
            { name: 'rest', target: 'us' },
          ],
        },
      ],
    },
    env: {},
  });
  dir = await mkdtemp(join(tmpdir(), 'mb-retention-'));
  store = await KeyStore.loadOrCreate(dir);
  audit = new AuditRepository(handle.db);
  service = new RetentionService({
    redis,
    retention: new RetentionRepository(handle.db),
    clients: new ClientsRepository(handle.db),
    audit,
  });
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

beforeEach(async () => {
  await handle.pool.query('DELETE FROM messages');
  await handle.pool.query('DELETE FROM audit_log');
});

async function insert(
  count: number,
  domain: string,
  ageDays: number,
  extra: Parameters<typeof sealedRows>[2] = {},
): Promise<string[]> {
  const { rows } = sealedRows(store, count, { domain, ...extra });
  await new MessagesRepository(handle.db).insertBatch(rows);
  // The bulk insert leaves created_at to the server's clock: age the rows afterwards.
  const ids = rows.map((r) => r.message_id);
  await handle.pool.query('UPDATE messages SET created_at = ? WHERE message_id IN (?)', [
    new Date(Date.now() - ageDays * DAY),
    ids,
  ]);
  return ids;
}

async function countIn(domain: string): Promise<number> {
  const [rows] = await handle.pool.query('SELECT COUNT(*) AS n FROM messages WHERE domain = ?', [domain]);
  return Number((rows as Array<{ n: number }>)[0]!.n);
}

describe('retention purge', () => {
  it("deletes what is past each domain's retention, in batches, including undelivered rows and their schedule entries", async () => {
    await insert(20, 'default', 31);
    await insert(5, 'default', 29);
    await insert(9, 'forever', 400);
    await insert(3, 'short', 2);
    const pending = await insert(4, 'short', 2, { status: 'queued' });
    await insert(2, 'short', 0.5);
    const keys = domainKeys(prefix, config.domains[2]!);
    await redis.zadd(keys.schedule, ...pending.flatMap((id) => [Date.now(), id]));
    await redis.xadd(keys.dead, `${Date.now() - 3 * DAY}-0`, 'm', 'old');
    await redis.xadd(keys.dead, '*', 'm', 'new');

    const results = await service.purgeExpired(config);
    expect(results).toEqual([
      expect.objectContaining({ domain: 'default', days: 30, deleted: 20, deleted_undelivered: 0 }),
      expect.objectContaining({ domain: 'short', days: 1, deleted: 7, deleted_undelivered: 4 }),
    ]);
    expect([await countIn('default'), await countIn('forever'), await countIn('short')]).toEqual([5, 9, 2]);
    expect(await redis.zcard(keys.schedule)).toBe(0);
    expect((await redis.xrange(keys.dead, '-', '+')).map(([, f]) => f[1])).toEqual(['new']);
    const entries = await audit.list({ limit: 10 });
    expect(
      entries.map((e) => [e.action, e.actor, e.target_id, (e.details as { deleted: number }).deleted]).sort(),
    ).toEqual([
      ['retention.purge', 'system', 'default', 20],
      ['retention.purge', 'system', 'short', 7],
    ]);
  });

  it('runs on one of two brokers only, once per interval', async () => {
    await insert(10, 'default', 40);
    const make = (instance_id: string) =>
      new RetentionScheduler({
        redis,
        service,
        logger: createLogger('silent'),
        config: new LiveConfig({ ...config, instance_id, retention: { ...config.retention, interval_ms: 60_000 } }),
      });
    const [a, b] = [make('a'), make('b')];
    await Promise.all([a.tick(), b.tick(), a.tick()]);
    await insert(3, 'default', 40);
    await b.tick(); // within the interval: the lock still marks it as done
    expect(await countIn('default')).toBe(3);
    const runs = (await audit.list({ limit: 10 })).filter((e) => e.action === 'retention.purge');
    expect(runs).toHaveLength(1);
    await redis.del(`${prefix}locks:retention-interval`);
  });
  it('takes a reload that shortens the interval at once: the mark set under the old one is cut down', async () => {
    const live = new LiveConfig({ ...config, retention: { ...config.retention, interval_ms: 3_600_000 } });
    const scheduler = new RetentionScheduler({
      redis,
      service,
      logger: createLogger('silent'),
      config: live,
      firstRunDelayMs: 60_000,
    });
    scheduler.start();
    try {
      await redis.set(`${prefix}locks:retention-interval`, 'elsewhere', 'PX', 3_600_000);
      live.apply({ ...live.current(), retention: { ...live.current().retention, interval_ms: 2000 } }, ['retention']);
      await vi.waitFor(async () =>
        expect(await redis.pttl(`${prefix}locks:retention-interval`)).toBeLessThanOrEqual(2000),
      );
      // The days in force are read at the next tick: 30 by the config, 0 (keep) after a reload.
      await insert(4, 'default', 40);
      await redis.del(`${prefix}locks:retention-interval`);
      // A reload hands over the resolved config: retention.days 0 reaches each inheriting domain.
      const kept = live.current();
      live.apply(
        {
          ...kept,
          retention: { ...kept.retention, days: 0 },
          domains: kept.domains.map((d) => (d.name === 'default' ? { ...d, retention_days: 0 } : d)),
        },
        ['retention', 'domains'],
      );
      await scheduler.tick();
      expect(await countIn('default')).toBe(4);
    } finally {
      await scheduler.stop();
      await redis.del(`${prefix}locks:retention-interval`);
    }
  });
});

describe('mb purge --client', () => {
  it("erases one client's stored messages, keeps its deliveries in progress unless asked, and audits", async () => {
    const clients = new ClientsRepository(handle.db);
    const alice = await clients.ensure({ name: 'alice', domain: 'default' });
    const bob = await clients.ensure({ name: 'bob', domain: 'default' });
    await insert(12, 'default', 1, { client_id: alice.id });
    await insert(2, 'default', 1, { client_id: alice.id, status: 'queued' });
    await insert(4, 'default', 1, { client_id: bob.id });

    const first = await service.purgeClient(config, { client: 'alice', includePending: false, actor: 'cli' });
    expect(first).toEqual({ client: 'alice.default', domain: 'default', deleted: 12, kept_pending: 2 });
    const second = await service.purgeClient(config, { client: 'alice.default', includePending: true, actor: 'cli' });
    expect(second).toMatchObject({ deleted: 2, kept_pending: 0 });
    expect(await countIn('default')).toBe(4);
    const [entry] = await audit.list({ limit: 1 });
    expect(entry).toMatchObject({
      actor: 'cli',
      action: 'messages.purge',
      target_type: 'client',
      target_id: 'alice.default',
      domain: 'default',
    });
  });

  it("removes the erased messages' entries from every dead-letter stream of the domain, and only theirs", async () => {
    const clients = new ClientsRepository(handle.db);
    const dave = await clients.ensure({ name: 'dave', domain: 'routed' });
    const erin = await clients.ensure({ name: 'erin', domain: 'routed' });
    const [daveEu, daveUs] = await insert(2, 'routed', 1, { client_id: dave.id, status: 'failed' });
    const [erinUs] = await insert(1, 'routed', 1, { client_id: erin.id, status: 'failed' });
    const keys = targetKeysOf(prefix, config.domains[3]!);
    const dead = (target: string) => keys.get(target)!.dead;
    const deadLetter = (target: string, id: string) =>
      redis.xadd(dead(target), '*', 'm', id, 'a', '3', 'e', 'HTTP 500', 't', new Date().toISOString());
    await deadLetter('eu', daveEu!);
    await deadLetter('us', daveUs!);
    await deadLetter('us', erinUs!);

    await expect(
      service.purgeClient(config, { client: 'dave', includePending: false, actor: 'cli' }),
    ).resolves.toMatchObject({ deleted: 2 });
    expect(await redis.xlen(dead('eu'))).toBe(0);
    expect((await redis.xrange(dead('us'), '-', '+')).map(([, f]) => f[1])).toEqual([erinUs]);
    await redis.del(dead('eu'), dead('us'));
  });

  it('refuses an unknown client and a name that exists in several domains', async () => {
    await new ClientsRepository(handle.db).ensure({ name: 'carol', domain: 'default' });
    await new ClientsRepository(handle.db).ensure({ name: 'carol', domain: 'short' });
    await expect(
      service.purgeClient(config, { client: 'nobody', includePending: false, actor: 'cli' }),
    ).rejects.toThrow(/No client nobody/);
    await expect(service.purgeClient(config, { client: 'carol', includePending: false, actor: 'cli' })).rejects.toThrow(
      /several domains/,
    );
    await expect(
      service.purgeClient(config, { client: 'carol', domain: 'short', includePending: false, actor: 'cli' }),
    ).resolves.toMatchObject({ client: 'carol.short' });
  });
});
