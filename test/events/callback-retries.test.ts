/**
 * Status callbacks that failed are retried as slots free up, not one slotful per tick:
 * a receiver that refused each event once gets all of them again within a retry interval
 * or so. Before, each tick (half the retry interval) claimed at most
 * `callback_concurrency` overdue entries, so 80 events through 4 slots with a 1.5 s
 * interval took 20 ticks (15 s) to be retried. Clients take turns: a few refused events
 * of another client are retried among the first, not after the big backlog. Real Redis,
 * a real HTTPS receiver.
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
/** Another client of the same receiver, with a few events only. */
const OTHER = 8;
const OTHER_EVENTS = 4;
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
    loadTargets: async () =>
      new Map([
        [CLIENT, { url: receiver.url, secret: 'retries', caFile: receiver.caFile }],
        [OTHER, { url: receiver.url, secret: 'retries', caFile: receiver.caFile }],
      ]),
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
  const events = (client: number, count: number) =>
    Array.from({ length: count }, () => ({
      type: 'delivered' as const,
      message_id: randomUUID(),
      client,
      client_id: `c${client}.default`,
      domain: 'default',
      attempt: 1,
      at,
    }));
  const retention = { retention_ms: 600_000, max_per_client: 10_000 };
  // The big backlog first: its entries are overdue first and come first in every pass.
  await publishStatusEvents(redis, prefix, retention, events(CLIENT, EVENTS));
  await publishStatusEvents(redis, prefix, retention, events(OTHER, OTHER_EVENTS));
  const started = Date.now();
  const all = EVENTS + OTHER_EVENTS;
  await waitUntil(async () => receiver.hits.filter((h) => h.status === 503).length === all, 10_000, 'first tries');
  await waitUntil(async () => receiver.hits.filter((h) => h.status === 200).length === all, 20_000, 'retries');
  const seconds = (Date.now() - started) / 1000;
  // Overdue after 1.5 s, claimed at the next tick (every 0.75 s): ≈ 2.5 s with time to spare;
  // a slotful per tick would take 20 ticks, 15 s.
  expect(seconds).toBeLessThan(8);
  expect(receiver.maxInFlight).toBeLessThanOrEqual(SLOTS);
  expect(new Set(receiver.hits.map((h) => h.body.message_id)).size).toBe(all);
  // The other client's retries went among the first of the pass, not after the backlog.
  const retried = receiver.hits.filter((h) => h.status === 200);
  const ofOther = retried.flatMap((h, i) => (JSON.parse(h.rawBody).client_id === `c${OTHER}.default` ? [i] : []));
  expect(ofOther).toHaveLength(OTHER_EVENTS);
  expect(Math.max(...ofOther)).toBeLessThan(retried.length / 2);
});
