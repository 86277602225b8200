/**
 * A Redis outage as the operator sees it (the front's connection through a proxy that is
 * cut: ECONNREFUSED): the health report names the cause, not ioredis' "Stream isn't
 * writeable"; the loss and the return are logged once each, not at every retry.
 */
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { HealthService } from '../../src/health/health.service.js';
import { createLogger } from '../../src/logger.js';
import { createRedis, logConnectionChanges, whenReady } from '../../src/queue/redis-connection.js';
import { DeliverySchedule } from '../../src/queue/schedule.js';
import type { BrokerScripts } from '../../src/queue/scripts.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { TEST_REDIS_URL } from '../support/test-fixtures.js';

let proxy: TcpProxy;
let redis: Redis;
const lines: Array<{ level: number; msg: string; err?: string }> = [];

beforeAll(async () => {
  const target = new URL(TEST_REDIS_URL);
  proxy = await TcpProxy.create(target.hostname, Number(target.port));
  const config = loadConfig({
    values: { redis: { url: `redis://127.0.0.1:${proxy.port}`, command_timeout_ms: 500 } },
    env: {},
  });
  redis = createRedis(config, 'front');
  redis.on('error', () => undefined);
  await whenReady(redis);
  const logger = createLogger('info', {}, { write: (line: string) => void lines.push(JSON.parse(line)) });
  logConnectionChanges(redis, logger);
});

afterAll(async () => {
  redis.disconnect();
  await proxy.close();
});

describe('a Redis outage', () => {
  it('shows its cause in the health report and is logged once when lost and once when back', async () => {
    const health = new HealthService({
      instanceId: 'outage-test',
      version: 'test',
      redis,
      pingDatabase: async () => undefined,
      actors: [],
      durability: () => undefined,
      serverCertificateNotAfter: () => undefined,
    });
    await proxy.cut();
    await vi.waitFor(() => expect(redis.status).not.toBe('ready'));
    // Several retries (every 100–300 ms) fail with ECONNREFUSED meanwhile.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const component = (await health.report()).components.redis;
    expect(component).toEqual({ status: 'down', error: `connect ECONNREFUSED 127.0.0.1:${proxy.port}` });
    // The same cause in the delivery poll's warning.
    const failure: unknown = await redis.zcard('mbtest:outage').catch((error: unknown) => error);
    expect(new DeliverySchedule(redis, {} as BrokerScripts).notConnectedCause(failure)).toBe(
      `connect ECONNREFUSED 127.0.0.1:${proxy.port}`,
    );

    await proxy.restore();
    await vi.waitFor(() => expect(redis.status).toBe('ready'), { timeout: 5000 });
    const said = lines.filter((l) => /redis connection/.test(l.msg)).map((l) => [l.level, l.msg]);
    expect(said).toEqual([
      [40, 'redis connection lost'],
      [30, 'redis connection restored'],
    ]);
    expect((await health.report()).components.redis?.status).toBe('up');
  }, 20_000);
});
