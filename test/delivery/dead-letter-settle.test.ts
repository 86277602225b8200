/**
 * A last attempt's failure always ends with a dead-letter entry. The settler marks the row
 * `failed` in MySQL before it writes the entry in Redis; if Redis failed in between, the
 * row stayed failed with no entry, and when its lease expired the claim took it for a
 * settled one and dropped it: neither `mb dead-letters` nor the portal could redrive it.
 * Now the claim that finds a failed row still leased writes the entry it lacks (and the
 * `failed` event), once.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DeadLetterService } from '../../src/dead-letters/dead-letter.service.js';
import { LiveConfig } from '../../src/config/live-config.js';
import { AuditRepository } from '../../src/db/audit.repository.js';
import { clientEventsKey } from '../../src/queue/keys.js';
import { readEventsAfter } from '../../src/queue/status-events.js';
import { startTestDispatcher, type TestDispatcher } from '../support/test-dispatcher.js';
import { useTestDatabase, useTestRedis } from '../support/test-fixtures.js';

const { handle } = useTestDatabase();
const { redis, prefix } = useTestRedis();

let running: TestDispatcher | undefined;
afterEach(async () => {
  vi.restoreAllMocks();
  await running?.dispatcher.stop();
  running = undefined;
});

const deadIds = async (t: TestDispatcher) =>
  (await redis.xrange(t.keys.dead, '-', '+')).map(([, fields]) => fields[fields.indexOf('m') + 1]);

describe('a last attempt whose dead letter could not be written', () => {
  it('is dead-lettered (once) when its lease expires, and can be redriven', async () => {
    const t = startTestDispatcher({
      db: handle,
      redis,
      prefix,
      domain: { max_attempts: 1 },
      answer: () => ({ ok: false, error: 'HTTP 503', status: 503, retryable: true }),
    });
    running = t;
    await redis.del(clientEventsKey(prefix, 1));
    // Redis fails between the row's `failed` (MySQL) and its dead-letter entry.
    const deadLetter = vi.spyOn(t.schedule, 'deadLetter').mockRejectedValueOnce(new Error('Connection is closed.'));
    const id = await t.enqueue();
    await t.poll();
    await expect.poll(() => deadLetter.mock.calls.length).toBeGreaterThan(0);
    await expect.poll(async () => (await t.messages.findOne(id))?.status).toBe('failed');
    expect(await deadIds(t)).not.toContain(id);
    expect(await redis.zscore(t.keys.inflight, id)).not.toBeNull();

    // Its lease runs out (a broker restarted, or simply the lease time later): the next claim finds it.
    await redis.zadd(t.keys.inflight, 1, id);
    await t.poll();
    await expect.poll(() => deadIds(t)).toEqual([id]);
    expect(await redis.zscore(t.keys.inflight, id)).toBeNull();
    expect(await redis.zscore(t.keys.schedule, id)).toBeNull();
    expect(t.attempted).toEqual([id]);
    const events = await readEventsAfter(redis, prefix, 1, '0-0', 100);
    expect(events.filter((e) => e.message_id === id).map((e) => e.type)).toEqual(['failed']);

    // Within reach again: a redrive puts it back.
    const service = new DeadLetterService(new LiveConfig(t.config), redis, t.messages, new AuditRepository(handle.db));
    expect(await service.redrive('hooks', [id], 'admin')).toMatchObject({ requeued: 1, removed: 1 });
  });

  it('is not dead-lettered twice when only the settle after its entry failed', async () => {
    const t = startTestDispatcher({
      db: handle,
      redis,
      prefix,
      domain: { max_attempts: 1 },
      answer: () => ({ ok: false, error: 'HTTP 503', status: 503, retryable: true }),
    });
    running = t;
    const settle = vi.spyOn(t.schedule, 'settle').mockRejectedValueOnce(new Error('Connection is closed.'));
    const id = await t.enqueue();
    await t.poll();
    await expect.poll(() => settle.mock.calls.length).toBeGreaterThan(0);
    await expect.poll(() => deadIds(t)).toContain(id);
    await redis.zadd(t.keys.inflight, 1, id);
    await t.poll();
    await expect.poll(() => redis.zscore(t.keys.inflight, id)).toBeNull();
    expect((await deadIds(t)).filter((m) => m === id)).toHaveLength(1);
  });
});
