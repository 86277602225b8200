/**
 * The dead-letter service against the real Redis and MariaDB: pages newest first with a
 * keyset cursor, finds one entry, retries one (row, schedule and entry together, or none
 * of them), redrives a domain, publishes a `requeued` status event for each message put
 * back, and audits what it did.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { LiveConfig } from '../../src/config/live-config.js';
import { AuditRepository } from '../../src/db/audit.repository.js';
import { MessagesRepository } from '../../src/db/messages.repository.js';
import type { MessageStatus } from '../../src/db/schema.js';
import { DeadLetterService } from '../../src/dead-letters/dead-letter.service.js';
import { BrokerError } from '../../src/errors.js';
import { clientEventsKey, domainKeys } from '../../src/queue/keys.js';
import { readEventsAfter } from '../../src/queue/status-events.js';
import { DeliverySchedule } from '../../src/queue/schedule.js';
import { defineScripts } from '../../src/queue/scripts.js';
import { useTestDatabase, useTestRedis } from '../support/test-fixtures.js';

const { handle } = useTestDatabase();
const { redis, prefix } = useTestRedis();
const keys = domainKeys(prefix, { key_prefix: 'hooks' });
const configWith = (domains: string[]) =>
  loadConfig({
    values: {
      redis: { key_prefix: prefix },
      bootstrap: { demo_client: false },
      domains: domains.map((name) => ({ name })),
    },
    env: {},
  });
const live = new LiveConfig(configWith(['hooks']));
const messages = new MessagesRepository(handle.db);
const audit = new AuditRepository(handle.db);
const schedule = new DeliverySchedule(redis, defineScripts(redis));
const service = new DeadLetterService(live, redis, messages, audit);

beforeEach(async () => {
  await redis.del(keys.dead, keys.schedule, keys.inflight, keys.redriving, clientEventsKey(prefix, 1));
});

/** The status events of client 1 (every message here is its). */
const clientEvents = () => readEventsAfter(redis, prefix, 1, '0-0', 100);

/** Stores messages of domain `hooks` in the given status and dead-letters them, oldest first. */
async function deadLetters(count: number, status: MessageStatus = 'failed'): Promise<string[]> {
  const ids = Array.from({ length: count }, () => randomUUID());
  await messages.insertBatch(
    ids.map((message_id) => ({
      message_id,
      client_id: 1,
      domain: 'hooks',
      sender_hash: randomBytes(32).toString('hex'),
      pepper_id: 'p1',
      sender_masked: '+123****7890',
      sender_enc: randomBytes(60),
      body_enc: randomBytes(100),
      key_id: 'k1',
      queued_at: new Date(),
      status,
      attempt_count: 5,
    })),
  );
  for (const id of ids)
    await schedule.deadLetter(keys, [{ message_id: id, attempts: 5, last_error: `HTTP 503 for ${id}` }]);
  return ids;
}

async function expectError(promise: Promise<unknown>, code: string): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(BrokerError);
  expect((error as BrokerError).code).toBe(code);
}

describe('page and find', () => {
  it('pages newest first; `before` is an exclusive entry id and junk is ignored', async () => {
    const ids = await deadLetters(5);
    const first = await service.page('hooks', { limit: 2 });
    expect(first.entries.map((e) => e.message_id)).toEqual([ids[4], ids[3]]);
    expect(first.more).toBe(true);
    expect(first.entries[0]).toMatchObject({ attempts: 5, last_error: `HTTP 503 for ${ids[4]}` });
    expect(first.entries[0]!.dead_at).toMatch(/^\d{4}-\d\d-\d\dT/);

    const second = await service.page('hooks', { limit: 2, before: first.entries.at(-1)!.entry_id });
    expect(second.entries.map((e) => e.message_id)).toEqual([ids[2], ids[1]]);
    expect(second.more).toBe(true);
    const last = await service.page('hooks', { limit: 2, before: second.entries.at(-1)!.entry_id });
    expect(last).toMatchObject({ entries: [{ message_id: ids[0] }], more: false });

    for (const junk of ['', 'abc', '1-2-3', '(0-0', '+'])
      expect(await service.page('hooks', { limit: 2, before: junk })).toEqual(first);
  });

  it('finds one entry by its id, and nothing for an unknown or malformed id', async () => {
    const [id] = await deadLetters(1);
    const [entry] = (await service.page('hooks')).entries;
    expect(await service.find('hooks', entry!.entry_id)).toEqual(entry);
    expect(entry!.message_id).toBe(id);
    expect(await service.find('hooks', '1-0')).toBeUndefined();
    expect(await service.find('hooks', '-')).toBeUndefined();
    expect(await service.find('hooks', 'x')).toBeUndefined();
  });

  it('dates an entry written without a time by its stream id', async () => {
    await redis.xadd(keys.dead, '1700000000000-0', 'm', 'old', 'a', '3', 'e', 'timeout');
    expect(await service.find('hooks', '1700000000000-0')).toEqual({
      entry_id: '1700000000000-0',
      message_id: 'old',
      attempts: 3,
      last_error: 'timeout',
      dead_at: '2023-11-14T22:13:20.000Z',
    });
  });

  it('refuses a domain that is not configured, and sees one a reload added', async () => {
    await expectError(service.page('later'), 'UNKNOWN_DOMAIN');
    const before = live.current();
    live.apply(configWith(['hooks', 'later']), ['domains']);
    try {
      expect(await service.count('later')).toBe(0);
    } finally {
      live.apply(before, ['domains']);
    }
  });
});

describe('retry', () => {
  it('queues the message again, due now, drops the entry and audits message.retry', async () => {
    const [id] = await deadLetters(1);
    const [entry] = (await service.page('hooks')).entries;
    const startedAt = Date.now();
    expect(await service.retry('hooks', entry!.entry_id, 'user:7', '10.0.0.1')).toEqual(entry);

    const row = (await messages.findOne(id!))!;
    expect(row.status).toBe('queued');
    // One more attempt, not a fresh set: the attempt count stays.
    expect(row.attempt_count).toBe(5);
    expect(Number(await redis.zscore(keys.schedule, id!))).toBeGreaterThanOrEqual(startedAt - 1000);
    expect(await redis.xlen(keys.dead)).toBe(0);
    const [record] = await audit.list({ domain: 'hooks', limit: 1 });
    expect(record).toMatchObject({
      actor: 'user:7',
      ip: '10.0.0.1',
      action: 'message.retry',
      target_type: 'message',
      target_id: id,
      details: { dead_letter: entry!.entry_id, attempts: 5 },
    });

    await expectError(service.retry('hooks', entry!.entry_id, 'user:7'), 'NOT_FOUND');
  });

  it('publishes `requeued` with the attempts kept, to the client of the message', async () => {
    const [id] = await deadLetters(1);
    const [entry] = (await service.page('hooks')).entries;
    const before = Date.now();
    await service.retry('hooks', entry!.entry_id, 'user:7');
    const events = await clientEvents();
    expect(events).toEqual([
      expect.objectContaining({ type: 'requeued', message_id: id, domain: 'hooks', attempt: 5, client_id: '1' }),
    ]);
    expect(Date.parse(events[0]!.at)).toBeGreaterThanOrEqual(before - 1000);
  });

  it('answers CONFLICT for a message that is not failed any more, and leaves the entry', async () => {
    const [id] = await deadLetters(1, 'delivered');
    const [entry] = (await service.page('hooks')).entries;
    await expectError(service.retry('hooks', entry!.entry_id, 'user:7'), 'CONFLICT');
    expect((await messages.findOne(id!))!.status).toBe('delivered');
    expect(await redis.zscore(keys.schedule, id!)).toBeNull();
    expect(await redis.xlen(keys.dead)).toBe(1);
  });

  it('sets the row back to failed when the schedule cannot be written', async () => {
    const [id] = await deadLetters(1);
    const [entry] = (await service.page('hooks')).entries;
    const auditedBefore = (await audit.list({ domain: 'hooks', limit: 100 })).length;
    const chain = <T extends object>(multi: T) =>
      Object.assign(multi, {
        zadd: () => multi,
        xdel: () => multi,
        xadd: () => multi,
        xtrim: () => multi,
        pexpire: () => multi,
      });
    const discarded = chain({ exec: async () => null });
    const lost = chain({ exec: () => Promise.reject(new Error('connection lost')) });
    for (const multi of [discarded, lost]) {
      const spy = vi.spyOn(redis, 'multi').mockReturnValueOnce(multi as never);
      try {
        await expectError(service.retry('hooks', entry!.entry_id, 'user:7'), 'QUEUE_UNAVAILABLE');
      } finally {
        spy.mockRestore();
      }
      expect((await messages.findOne(id!))!.status).toBe('failed');
      expect(await redis.zscore(keys.schedule, id!)).toBeNull();
      expect(await service.find('hooks', entry!.entry_id)).toEqual(entry);
      expect(await clientEvents()).toEqual([]);
    }
    expect((await audit.list({ domain: 'hooks', limit: 100 })).length).toBe(auditedBefore);
    // Nothing was left half done: the same entry retries fine afterwards.
    await service.retry('hooks', entry!.entry_id, 'user:7');
    expect((await messages.findOne(id!))!.status).toBe('queued');
  });
});

describe('redrive', () => {
  it('gives every dead letter of the domain a fresh set of attempts and audits the counts', async () => {
    const ids = await deadLetters(3);
    expect(await service.redrive('hooks', 'all', 'cli')).toEqual({ requeued: 3, removed: 3 });
    for (const id of ids) {
      expect(await messages.findOne(id)).toMatchObject({ status: 'queued', attempt_count: 0 });
      expect(await redis.zscore(keys.schedule, id)).not.toBeNull();
    }
    expect(await service.count('hooks')).toBe(0);
    const [record] = await audit.list({ domain: 'hooks', limit: 1 });
    expect(record).toMatchObject({
      actor: 'cli',
      action: 'dead_letter.redrive',
      target_id: 'hooks',
      details: { requested: 'all', requeued: 3, removed: 3 },
    });
  });

  it('redrives only the named messages, and refuses names it does not hold', async () => {
    const ids = await deadLetters(2);
    expect(await service.redrive('hooks', [ids[0]!], 'cli')).toEqual({ requeued: 1, removed: 1 });
    expect((await service.page('hooks')).entries.map((e) => e.message_id)).toEqual([ids[1]]);
    await expectError(service.redrive('hooks', [randomUUID()], 'cli'), 'NOT_FOUND');
  });

  it('publishes `requeued` at attempt 0 for each message put back, none for one delivered meanwhile', async () => {
    const failed = await deadLetters(2);
    const [delivered] = await deadLetters(1, 'delivered');
    expect(await service.redrive('hooks', 'all', 'cli')).toEqual({ requeued: 2, removed: 3 });
    const events = await clientEvents();
    expect(events.map((e) => [e.type, e.message_id, e.attempt]).sort()).toEqual(
      failed.map((id) => ['requeued', id, 0]).sort(),
    );
    expect(events.some((e) => e.message_id === delivered)).toBe(false);
  });

  it('puts each message back once when two redrives run at once (two admins, the CLI beside the portal)', async () => {
    const ids = await deadLetters(3);
    // The second admin's redrive read the entries, then stalls on MySQL while the first
    // one runs through and the dispatcher claims the messages it put back.
    const second = new DeadLetterService(live, redis, new MessagesRepository(handle.db), audit);
    const claimedMeanwhile: string[] = [];
    let unstall!: () => void;
    const stalled = new Promise<void>((resolve) => {
      unstall = resolve;
    });
    const read = messages.findForDelivery.bind(messages);
    const secondRepo = (second as unknown as { messages: MessagesRepository }).messages;
    vi.spyOn(secondRepo, 'findForDelivery').mockImplementation(async (batch) => {
      await stalled;
      return read(batch);
    });
    const running = service.redrive('hooks', 'all', 'cli');
    const racing = second.redrive('hooks', 'all', 'user:7');
    await new Promise((r) => setTimeout(r, 50));
    const first = await running;
    claimedMeanwhile.push(...(await schedule.claimDue(keys, Date.now(), 100, 60_000)));
    unstall();
    const late = await racing;
    const claimedAfter = await schedule.claimDue(keys, Date.now(), 100, 60_000);
    // Each message is claimed for an attempt exactly once, whichever redrive put it back.
    expect([...claimedMeanwhile, ...claimedAfter].sort()).toEqual([...ids].sort());
    expect(first.requeued + late.requeued).toBe(3);
    expect(first.removed + late.removed).toBe(3);
    expect(await service.count('hooks')).toBe(0);
    expect(await redis.exists(keys.redriving)).toBe(0);
  });

  it('refuses a retry of an entry a redrive holds, and lets a redrive that failed midway run again', async () => {
    const [id] = await deadLetters(1);
    const [entry] = (await service.page('hooks')).entries;
    // A redrive whose MULTI fails: its rows flipped, its entries still listed, its claim released.
    const failing = vi.spyOn(redis, 'multi').mockImplementationOnce(() => {
      throw new Error('Connection is closed.');
    });
    await expect(service.redrive('hooks', 'all', 'cli')).rejects.toThrow('Connection is closed.');
    failing.mockRestore();
    expect(await redis.exists(keys.redriving)).toBe(0);
    expect(await service.redrive('hooks', 'all', 'cli')).toMatchObject({ removed: 1 });
    expect(await redis.zscore(keys.schedule, id!)).not.toBeNull();
    // An entry held by a redrive under way: a retry of it is refused, not run beside it.
    await redis.zrem(keys.schedule, id!);
    await messages.restoreFailed(id!);
    await schedule.deadLetter(keys, [{ message_id: id!, attempts: 1, last_error: 'HTTP 503' }]);
    const [again] = (await service.page('hooks')).entries;
    expect(again!.entry_id).not.toBe(entry!.entry_id);
    await redis.zadd(keys.redriving, Date.now() + 60_000, id!);
    await expectError(service.retry('hooks', again!.entry_id, 'user:7'), 'CONFLICT');
    expect(await messages.findOne(id!)).toMatchObject({ status: 'failed' });
    expect(await service.find('hooks', again!.entry_id)).toEqual(again);
    // Once the holder is done (or its claim ran out), the retry goes through.
    await redis.del(keys.redriving);
    await service.retry('hooks', again!.entry_id, 'user:7');
    expect(await messages.findOne(id!)).toMatchObject({ status: 'queued' });
  });
});
