/**
 * A Redis restarted under the broker with AOF off (a default redis.conf, a package upgrade,
 * a container recreated without its flags): the front's durability watch sees it at the
 * reconnect, not a minute later; with `redis.manage_persistence` it turns AOF on again as it
 * does at start, and it says so in the log once. A check that fails only because Redis is
 * away leaves no stale "cannot read" behind once Redis answers again.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { connectRedis, type FrontRedis } from '../../src/app/lifecycle.js';
import { loadConfig } from '../../src/config/config.js';
import { createLogger } from '../../src/logger.js';
import { TestRedisServer } from '../support/redis-server.js';

const servers: TestRedisServer[] = [];
const fronts: FrontRedis[] = [];

afterAll(async () => {
  for (const front of fronts) {
    front.durability.stop();
    front.redis.disconnect();
  }
  for (const server of servers) await server.destroy();
});

async function eventually<T>(probe: () => Promise<T | undefined> | T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await Promise.resolve()
      .then(probe)
      .catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function appendonly(url: string): Promise<string> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await client.connect();
    return ((await client.config('GET', 'appendonly')) as string[])[1] ?? 'unknown';
  } finally {
    client.disconnect();
  }
}

/** A broker's front connection to a Redis of its own, watched; and that Redis restarted with AOF off. */
async function restartedWithoutAof(manage: boolean) {
  const first = await TestRedisServer.create();
  servers.push(first);
  const lines: Array<{ level: number; msg: string; problem?: string; changed?: string[] }> = [];
  const logger = createLogger('info', {}, { write: (line: string) => void lines.push(JSON.parse(line)) });
  const config = loadConfig({
    values: { redis: { url: first.url, manage_persistence: manage, command_timeout_ms: 500 } },
    env: {},
  });
  const front = await connectRedis(config, logger);
  fronts.push(front);
  front.redis.on('error', () => undefined);
  front.durability.watch();
  expect(front.durability.state?.durable).toBe(true);

  await first.stop();
  // Away long enough for a check to fail on the closed connection (the reconnect hook only
  // runs once Redis is back): that failure must not stick.
  await front.durability.check();
  const second = new TestRedisServer(first.port, 'everysec', ['--appendonly', 'no']);
  servers.push(second);
  await second.start();
  return { front, lines, url: second.url };
}

describe('a Redis restarted with AOF off', () => {
  it('gets AOF back at the reconnect when the broker manages persistence', async () => {
    const { front, lines, url } = await restartedWithoutAof(true);
    await eventually(async () => ((await appendonly(url)) === 'yes' ? true : undefined), 5000);
    // The reconnect's check ends after Redis has AOF on again (it reads the settings back):
    // wait for its outcome, not for the state, which still holds the start's `yes`.
    const turnedOn = (l: { msg: string }) => l.msg === 'turned Redis persistence on for durable 202s';
    await eventually(() => (lines.some(turnedOn) ? true : undefined), 5000);
    expect(front.durability.state?.appendonly).toBe('yes');
    expect(front.durability.state?.durable).toBe(true);
    expect(lines.filter((l) => l.msg === 'turned Redis persistence on for durable 202s')).toEqual([
      expect.objectContaining({ level: 40, changed: ['appendonly yes'] }),
    ]);
    expect(lines.some((l) => /NOT durable/.test(l.msg))).toBe(false);
  }, 30_000);

  it('is reported at the reconnect, once, when the broker may not touch Redis', async () => {
    const { front, lines, url } = await restartedWithoutAof(false);
    await eventually(() => (front.durability.state?.appendonly === 'no' ? true : undefined), 5000);
    expect(front.durability.state).toMatchObject({
      durable: false,
      problem: 'Redis has appendonly=no appendfsync=everysec; queue.fsync=everysec needs AOF on',
    });
    expect(await appendonly(url)).toBe('no');
    await front.durability.check();
    expect(lines.filter((l) => /NOT durable/.test(l.msg))).toEqual([
      expect.objectContaining({ level: 50, problem: front.durability.state?.problem }),
    ]);
  }, 30_000);
});
