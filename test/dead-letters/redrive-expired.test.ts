/**
 * A message dead-lettered for its age (the domain's `max_age_ms`) and then redriven, or
 * retried, gets its attempts: its age counts from the redrive. Before, the claim found it
 * still older than max_age_ms and dead-lettered it again without any attempt, while the
 * redrive had reported it requeued.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { LiveConfig } from '../../src/config/live-config.js';
import { AuditRepository } from '../../src/db/audit.repository.js';
import { DeadLetterService } from '../../src/dead-letters/dead-letter.service.js';
import { startTestDispatcher, type TestDispatcher } from '../support/test-dispatcher.js';
import { useTestDatabase, useTestRedis } from '../support/test-fixtures.js';

const { handle } = useTestDatabase();
const { redis, prefix } = useTestRedis();

let running: TestDispatcher | undefined;
afterEach(async () => {
  await running?.dispatcher.stop();
  running = undefined;
});

const MAX_AGE_MS = 60_000;

/** A dispatcher whose downstream takes everything, and a message too old for it, dead-lettered by its claim. */
async function expiredDeadLetter(): Promise<{ t: TestDispatcher; service: DeadLetterService; id: string }> {
  const t = startTestDispatcher({
    db: handle,
    redis,
    prefix,
    domain: { max_age_ms: MAX_AGE_MS },
    answer: () => ({ ok: true, status: 200 }),
  });
  running = t;
  const service = new DeadLetterService(new LiveConfig(t.config), redis, t.messages, new AuditRepository(handle.db));
  await redis.del(t.keys.dead, t.keys.schedule, t.keys.inflight, t.keys.redriving);
  const id = await t.enqueue({ queuedAt: new Date(Date.now() - 2 * MAX_AGE_MS) });
  await t.poll();
  await expect.poll(async () => (await t.messages.findOne(id))?.status).toBe('failed');
  expect(t.attempted).toEqual([]);
  expect((await service.page('hooks')).entries.map((e) => e.message_id)).toEqual([id]);
  return { t, service, id };
}

describe('an expired dead letter put back by an operator', () => {
  it('is attempted after a redrive, its age counted from the redrive', async () => {
    const { t, service, id } = await expiredDeadLetter();
    expect(await service.redrive('hooks', 'all', 'admin')).toMatchObject({ requeued: 1, removed: 1 });
    await t.poll();
    await expect.poll(async () => (await t.messages.findOne(id))?.status).toBe('delivered');
    expect(t.attempted).toEqual([id]);
    expect(await service.count('hooks')).toBe(0);
  });

  it('is attempted after a retry (one more attempt)', async () => {
    const { t, service, id } = await expiredDeadLetter();
    const [entry] = (await service.page('hooks')).entries;
    await service.retry('hooks', entry!.entry_id, 'admin');
    await t.poll();
    await expect.poll(async () => (await t.messages.findOne(id))?.status).toBe('delivered');
    expect(t.attempted).toEqual([id]);
  });
});
