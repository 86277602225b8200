/**
 * Redis stopped (a shutdown, a crash, a failover that closes the connections): the server
 * closes the connection without an error, and only the retries that follow fail with the
 * cause. "redis connection lost" must still carry it (README, Logs), not come out bare.
 */
import type { Redis } from 'ioredis';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { createLogger } from '../../src/logger.js';
import { createRedis, logConnectionChanges, whenReady } from '../../src/queue/redis-connection.js';
import { TestRedisServer } from '../support/redis-server.js';

let server: TestRedisServer | undefined;
let redis: Redis | undefined;

afterAll(async () => {
  redis?.disconnect();
  await server?.destroy();
});

describe('Redis stopped under a connection', () => {
  it('logs the loss once, with the cause the retries meet, and the return once', async () => {
    server = await TestRedisServer.create();
    const config = loadConfig({ values: { redis: { url: server.url, command_timeout_ms: 500 } }, env: {} });
    redis = createRedis(config, 'front');
    redis.on('error', () => undefined);
    await whenReady(redis);
    const lines: Array<{ level: number; msg: string; err?: string }> = [];
    logConnectionChanges(
      redis,
      createLogger('info', {}, { write: (line: string) => void lines.push(JSON.parse(line)) }),
    );

    await server.stop();
    await vi.waitFor(() => expect(lines.some((l) => l.msg === 'redis connection lost')).toBe(true), {
      timeout: 5000,
    });
    expect(lines).toEqual([
      expect.objectContaining({
        level: 40,
        msg: 'redis connection lost',
        err: `connect ECONNREFUSED 127.0.0.1:${server.port}`,
      }),
    ]);
    // More retries fail meanwhile: nothing more is said.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(lines).toHaveLength(1);

    await server.start();
    await vi.waitFor(() => expect(redis!.status).toBe('ready'), { timeout: 10_000 });
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      [40, 'redis connection lost'],
      [30, 'redis connection restored'],
    ]);
  }, 30_000);
});
