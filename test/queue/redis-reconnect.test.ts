/**
 * A Redis that goes silent (a blackhole: packets dropped, no RST) must not hold the broker's
 * connections forever: commands fail within the command timeout, the socket is torn down
 * and a new connection is made once the path is back — the old, silent socket is never
 * relied on again (the proxy keeps it open and mute for good).
 */
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { createRedis, isOutcomeUnknownError } from '../../src/queue/redis-connection.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { TEST_REDIS_URL } from '../support/test-fixtures.js';

let proxy: TcpProxy;
const connections: Redis[] = [];

beforeAll(async () => {
  const target = new URL(TEST_REDIS_URL);
  proxy = await TcpProxy.create(target.hostname, Number(target.port));
});

afterAll(async () => {
  for (const c of connections) c.disconnect();
  await proxy.close();
});

async function eventually<T>(probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('a blackholed Redis', () => {
  it.each(['ingest', 'subscriber'] as const)(
    '%s: fails fast while silent, then reconnects on a new socket',
    async (purpose) => {
      const config = loadConfig({
        values: { redis: { url: `redis://127.0.0.1:${proxy.port}`, command_timeout_ms: 500 } },
        env: {},
      });
      await proxy.restore();
      const redis = createRedis(config, purpose);
      connections.push(redis);
      redis.on('error', () => undefined);
      if (purpose === 'subscriber') await redis.subscribe('mbtest:reconnect');
      const before = await eventually(
        async () => (redis.status === 'ready' ? redis.stream.localPort : undefined),
        5000,
      );
      const closes: number[] = [];
      redis.on('close', () => closes.push(Date.now()));

      proxy.blackhole();
      const cutAt = Date.now();
      if (purpose === 'ingest') {
        const failure = await redis.set('mbtest:reconnect', '1').then(
          () => undefined,
          (error: unknown) => error,
        );
        // Within the command timeout (and a margin for a busy box), with an "outcome unknown" error.
        expect(Date.now() - cutAt).toBeLessThan(3000);
        expect(isOutcomeUnknownError(failure)).toBe(true);
      }
      // The silent socket is given up (the subscriber's probe PING finds it out).
      await eventually(async () => (closes.length > 0 ? true : undefined), 10_000);

      await proxy.restore();
      const after = await eventually(
        async () => (redis.status === 'ready' && (await redis.ping()) ? redis.stream.localPort : undefined),
        15_000,
      );
      expect(after).not.toBe(before);
    },
    40_000,
  );
});
