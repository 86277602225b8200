/**
 * A Redis outage as the delivery actor logs it: one warning per target when its polls
 * start failing (what happened, its effect), one line when they succeed again — not a
 * warning at every poll (every poll_interval_ms, 4 a second per target by default).
 */
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { startTestDispatcher, type TestDispatcher } from '../support/test-dispatcher.js';
import { TEST_REDIS_URL, useTestDatabase, useTestRedis } from '../support/test-fixtures.js';

const { handle } = useTestDatabase();
const { prefix } = useTestRedis();
let proxy: TcpProxy | undefined;
let redis: Redis | undefined;
let running: TestDispatcher | undefined;

afterAll(async () => {
  await running?.dispatcher.stop();
  redis?.disconnect();
  await proxy?.close();
});

describe('delivery polls while Redis is away', () => {
  it('warn once when they start failing and say once when they recover', async () => {
    const target = new URL(TEST_REDIS_URL);
    proxy = await TcpProxy.create(target.hostname, Number(target.port));
    redis = new Redis(`redis://127.0.0.1:${proxy.port}`, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
    redis.on('error', () => undefined);
    await expect.poll(() => redis!.status).toBe('ready');
    const lines: Array<{ level: number; msg: string }> = [];
    const logger = createLogger('info', {}, { write: (line: string) => void lines.push(JSON.parse(line)) });
    running = startTestDispatcher({ db: handle, redis, prefix, logger, answer: () => ({ ok: true, status: 200 }) });
    const delivery = () => lines.filter((l) => /delivery poll/.test(l.msg)).map((l) => l.level);

    // The start's own first look, under way: polls asked meanwhile are folded into it.
    await expect.poll(() => (running!.dispatcher as unknown as { polling: boolean }).polling).toBe(false);
    expect(delivery()).toEqual([]);
    await proxy.cut();
    await expect.poll(() => redis!.status).not.toBe('ready');
    for (let i = 0; i < 10; i++) await running.poll();
    expect(delivery()).toEqual([40]);
    expect(lines.find((l) => l.level === 40)?.msg).toMatch(/no attempt of this target starts until Redis answers/);

    await proxy.restore();
    await expect.poll(() => redis!.status, { timeout: 5000 }).toBe('ready');
    await running.poll();
    await running.poll();
    expect(delivery()).toEqual([40, 30]);
  }, 20_000);
});
