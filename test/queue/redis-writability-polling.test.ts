/**
 * The writability watch checks ten times as often once Redis is near the broker's memory
 * limit: the headroom above the limit must outlast the time between two checks (a burst
 * crossed a small one within the 1 s interval in the redis-full chaos run). Real Redis.
 */
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { WritabilityWatch } from '../../src/queue/redis-writability.js';

const redis = new Redis('redis://127.0.0.1:6379', { lazyConnect: true });
afterAll(() => redis.disconnect());

/** How many INFO calls a watch makes in `ms` with the given limit. */
async function infoCalls(maxBacklogBytes: number, ms: number): Promise<number> {
  let calls = 0;
  const counting = new Proxy(redis, {
    get(target, property, receiver) {
      if (property === 'info') {
        return (...args: unknown[]) => {
          calls++;
          return (target.info as (...a: unknown[]) => Promise<string>)(...args);
        };
      }
      return Reflect.get(target, property, receiver);
    },
  });
  const watch = new WritabilityWatch(counting, {
    manage: false,
    limits: { maxBacklogBytes, maxMemoryPercent: 90 },
    logger: createLogger('silent'),
    intervalMs: 1000,
  });
  await watch.start();
  await new Promise((resolve) => setTimeout(resolve, ms));
  watch.stop();
  return calls;
}

describe('WritabilityWatch polling', () => {
  it('checks every interval while Redis is far from the limit', async () => {
    expect(await infoCalls(100 * 1024 ** 3, 700)).toBeLessThanOrEqual(2);
  });

  it('checks ten times as often past 80 % of the limit', async () => {
    // Any Redis uses more than a kilobyte: "near" (indeed over) a 1 KB limit.
    expect(await infoCalls(1024, 700)).toBeGreaterThanOrEqual(4);
  });
});
