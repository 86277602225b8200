/**
 * Status events in the real Redis: appended in a caller's pipeline, read back in order,
 * resumed after an id, read by several clients at once, and bounded per client.
 */
import { expect, it } from 'vitest';
import type { StatusEventInput } from '../../src/events/status-event.js';
import { clientEventsKey } from '../../src/queue/keys.js';
import {
  addStatusEvents,
  latestEventId,
  publishStatusEvents,
  readEventsAfter,
  readNewEvents,
} from '../../src/queue/status-events.js';
import { useTestRedis } from '../support/test-fixtures.js';

const { redis, prefix } = useTestRedis();
const retention = { retention_ms: 60_000, max_per_client: 100 };

function event(client: number, message: string, type: StatusEventInput['type'] = 'queued'): StatusEventInput {
  return {
    type,
    message_id: message,
    client,
    client_id: `c${client}.default`,
    domain: 'default',
    attempt: 0,
    at: new Date().toISOString(),
  };
}

it('keeps each client its own events, in order, and resumes after an event id', async () => {
  expect(await latestEventId(redis, prefix, 1)).toBe('0-0');
  const pipeline = redis.pipeline().set(`${prefix}other`, 'x');
  addStatusEvents(pipeline, prefix, retention, [event(1, 'a'), event(2, 'b'), event(1, 'a', 'stored')]);
  await pipeline.exec();
  await publishStatusEvents(redis, prefix, retention, [
    { ...event(1, 'a', 'retry_scheduled'), attempt: 1, next_attempt_at: 'later', error_class: 'http_5xx' },
  ]);

  const all = await readEventsAfter(redis, prefix, 1, '0-0', 10);
  expect(all.map((e) => [e.type, e.message_id])).toEqual([
    ['queued', 'a'],
    ['stored', 'a'],
    ['retry_scheduled', 'a'],
  ]);
  expect(all[2]).toMatchObject({
    attempt: 1,
    next_attempt_at: 'later',
    error_class: 'http_5xx',
    client_id: 'c1.default',
  });
  expect(all[0]).not.toHaveProperty('error_class');
  expect(await latestEventId(redis, prefix, 1)).toBe(all[2]!.event_id);
  expect((await readEventsAfter(redis, prefix, 1, all[0]!.event_id, 10)).map((e) => e.type)).toEqual([
    'stored',
    'retry_scheduled',
  ]);
  // Nothing of client 1 in client 2's stream; the stream expires with the retention.
  expect((await readEventsAfter(redis, prefix, 2, '0-0', 10)).map((e) => e.message_id)).toEqual(['b']);
  const ttl = await redis.pttl(clientEventsKey(prefix, 1));
  expect(ttl).toBeGreaterThan(0);
  expect(ttl).toBeLessThanOrEqual(60_000);
});

it('reads new events of several clients after their cursors, waiting when there are none', async () => {
  const start1 = await latestEventId(redis, prefix, 11);
  const start2 = await latestEventId(redis, prefix, 12);
  const cursors = new Map([
    [11, start1],
    [12, start2],
  ]);
  const waiting = readNewEvents(redis.duplicate(), prefix, cursors, 100, 5000);
  await new Promise((r) => setTimeout(r, 50));
  await publishStatusEvents(redis, prefix, retention, [event(12, 'x')]);
  const got = await waiting;
  expect([...got.keys()]).toEqual([12]);
  expect(got.get(12)!.events.map((e) => e.message_id)).toEqual(['x']);
  expect(got.get(12)!.lastId).toBe(await latestEventId(redis, prefix, 12));
  const empty = await readNewEvents(redis, prefix, new Map([[11, start1]]), 100, 10);
  expect(empty.size).toBe(0);
});

it('trims a client stream to about max_per_client and drops what is older than the retention', async () => {
  const small = { retention_ms: 60_000, max_per_client: 100 };
  const many = Array.from({ length: 500 }, (_, i) => event(21, `m${i}`));
  await publishStatusEvents(redis, prefix, small, many);
  // `~`: Redis trims whole macro nodes, so a little more than the bound may stay.
  expect(await redis.xlen(clientEventsKey(prefix, 21))).toBeLessThan(300);
  // Older than the retention: whole nodes of old entries go with the next append.
  await publishStatusEvents(
    redis,
    prefix,
    small,
    Array.from({ length: 300 }, (_, i) => event(22, `old${i}`)),
  );
  await new Promise((r) => setTimeout(r, 30));
  // Appended with "now" a second on: everything before now − retention (whole nodes) goes.
  const later = redis.pipeline();
  addStatusEvents(later, prefix, { retention_ms: 1000, max_per_client: 10_000 }, [event(22, 'new')], {
    now: Date.now() + 1000,
  });
  await later.exec();
  const left = await readEventsAfter(redis, prefix, 22, '0-0', 1000);
  expect(left.length).toBeLessThan(150);
  expect(left.at(-1)!.message_id).toBe('new');
});
