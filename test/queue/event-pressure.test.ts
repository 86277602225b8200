/**
 * Status events give way to messages: while Redis is at the broker's memory limit, every
 * client's events stream is trimmed to a window that starts at half the retention and halves
 * every second, down to nothing; other keys are left alone; below the limit, nothing is
 * trimmed and the next pressure starts again from half the retention. Real Redis.
 */
import { expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { EventPressure } from '../../src/queue/event-pressure.js';
import { clientEventsKey } from '../../src/queue/keys.js';
import { useTestRedis } from '../support/test-fixtures.js';

const { redis, prefix } = useTestRedis();
const MINUTE = 60_000;
const RETENTION_MS = 60 * MINUTE;

it('trims every client’s events to a halving window while full, and nothing else', async () => {
  const now = Date.now();
  const ages = [40 * MINUTE, 10 * MINUTE, 5_000];
  for (const client of [1, 2])
    for (const age of ages) await redis.xadd(clientEventsKey(prefix, client), `${now - age}-0`, 'j', '{}');
  const dead = `${prefix}events:callbacks:dead`;
  await redis.xadd(dead, `${now - 50 * MINUTE}-0`, 'm', 'x');
  const pressure = new EventPressure(redis, prefix, RETENTION_MS, createLogger('silent'));

  // Below the limit: nothing.
  expect(await pressure.relieve(false, now)).toBe(0);
  // Full: half the retention (30 min) is kept, the 40-minute-old events go.
  expect(await pressure.relieve(true, now)).toBe(2);
  // Within the same second the window stays.
  expect(await pressure.relieve(true, now + 500)).toBe(0);
  // 15 min, then 7.5 min: the 10-minute-old ones go.
  expect(await pressure.relieve(true, now + 1000)).toBe(0);
  expect(await pressure.relieve(true, now + 2000)).toBe(2);
  // Down to nothing: the newest go too.
  let trimmed = 0;
  for (let second = 3; second <= 15; second++) trimmed += await pressure.relieve(true, now + second * 1000);
  expect(trimmed).toBe(2);
  expect(await redis.xlen(clientEventsKey(prefix, 1))).toBe(0);
  expect(await redis.xlen(clientEventsKey(prefix, 2))).toBe(0);
  // Not a client's events: left alone.
  expect(await redis.xlen(dead)).toBe(1);

  // Below the limit again, then full: back to half the retention, new events kept.
  await redis.xadd(clientEventsKey(prefix, 1), `${now + 20_000}-0`, 'j', '{}');
  expect(await pressure.relieve(false, now + 21_000)).toBe(0);
  expect(await pressure.relieve(true, now + 22_000)).toBe(0);
  expect(await redis.xlen(clientEventsKey(prefix, 1))).toBe(1);
});
