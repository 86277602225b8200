/**
 * Status callbacks that failed are retried as slots free up, not one slotful per tick:
 * a receiver that refused each event once gets all of them again within a retry interval
 * or so. Before, each tick (half the retry interval) claimed at most
 * `callback_concurrency` overdue entries, so 80 events through 4 slots with a 1.5 s
 * interval took 20 ticks (15 s) to be retried. Real Redis, a real HTTPS receiver.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CallbackDispatcher } from '../../src/events/callback-dispatcher.js';
import { createLogger } from '../../src/logger.js';
import { publishStatusEvents } from '../../src/queue/status-events.js';
import { waitUntil } from '../support/broker-harness.js';
import { TEST_REDIS_URL, useTestRedis } from '../support/test-fixtures.js';
import { startDownstream, type Downstream } from '../support/webhook-downstream.js';

const { redis, prefix } = useTestRedis();
const CLIENT = 7;
const EVENTS = 80;
const SLOTS = 4;
const RETRY_INTERVAL_MS = 1500;

let receiver: Downstream;
let blocking: Redis;
let dispatcher: CallbackDispatcher;

beforeAll(async () => {
  // Each event is refused (503, worth retrying) the first time and taken the second.
  receiver = await startDownstream((_body, attempt) => (attempt === 1 ? 503 : 200));
  blocking = new Redis(TEST_REDIS_URL, { protocol: 2 });
  dispatcher = new CallbackDispatcher({
    redis,
    blocking,
    prefix,
    consumer: 'retries-test',
    settings: {
      callback_timeout_ms: 500,
      callback_max_attempts: 5,
      callback_retry_interval_ms: RETRY_INTERVAL_MS,
      callback_concurrency: SLOTS,
      callback_refresh_ms: 60_000,
    },
    logger: createLogger('silent'),
    loadTargets: async () => new Map([[CLIENT, { url: receiver.url, secret: 'retries', caFile: receiver.caFile }]]),
    // Half the POSTs fail: a breaker must not hide what the retries do.
    breaker: { failures: 1_000_000, openMs: 1000 },
  });
});

afterAll(async () => {
  await dispatcher?.stop();
  blocking?.disconnect();
  await receiver?.close();
});

it('retries every refused callback within about one retry interval, never more than its slots at once', async () => {
  await dispatcher.start();
  const at = new Date().toISOString();
  await publishStatusEvents(
    redis,
    prefix,
    { retention_ms: 600_000, max_per_client: 10_000 },
    Array.from({ length: EVENTS }, () => ({
      type: 'delivered' as const,
      message_id: randomUUID(),
      client: CLIENT,
      client_id: 'retries.default',
      domain: 'default',
      attempt: 1,
      at,
    })),
  );
  const started = Date.now();
  await waitUntil(async () => receiver.hits.filter((h) => h.status === 503).length === EVENTS, 10_000, 'first tries');
  await waitUntil(async () => receiver.hits.filter((h) => h.status === 200).length === EVENTS, 20_000, 'retries');
  const seconds = (Date.now() - started) / 1000;
  // Overdue after 1.5 s, claimed at the next tick (every 0.75 s): ≈ 2.5 s with time to spare;
  // a slotful per tick would take 20 ticks, 15 s.
  expect(seconds).toBeLessThan(8);
  expect(receiver.maxInFlight).toBeLessThanOrEqual(SLOTS);
  expect(new Set(receiver.hits.map((h) => h.body.message_id)).size).toBe(EVENTS);
});
