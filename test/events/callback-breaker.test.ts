/**
 * The breaker of a status callback URL holds POSTs back while it is open, also for a
 * message's own `callback_url`: such a client's events are read whatever its messages'
 * URLs' breakers say (each event may name another URL), and they were then POSTed
 * regardless, so a receiver that kept failing got every event and every retry. An event
 * held back waits pending without spending one of its attempts. Real Redis, a real HTTPS
 * receiver.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CallbackDispatcher } from '../../src/events/callback-dispatcher.js';
import { createLogger } from '../../src/logger.js';
import { callbackDeadLetterKey } from '../../src/queue/keys.js';
import { rememberMessageCallbacks } from '../../src/queue/status-callbacks.js';
import { publishStatusEvents } from '../../src/queue/status-events.js';
import { waitUntil } from '../support/broker-harness.js';
import { TEST_REDIS_URL, useTestRedis } from '../support/test-fixtures.js';
import { startDownstream, type Downstream } from '../support/webhook-downstream.js';

const { redis, prefix } = useTestRedis();
const CLIENT = 9;
const EVENTS = 6;
const FAILURES = 2;
const RETRY_INTERVAL_MS = 700;

let receiver: Downstream;
let blocking: Redis;
let dispatcher: CallbackDispatcher;

beforeAll(async () => {
  // Slow answers: entries read while a POST is under way must wait for its slot (and its outcome).
  receiver = await startDownstream(() => 500, { answerAfterMs: 50 });
  blocking = new Redis(TEST_REDIS_URL, { protocol: 2 });
  dispatcher = new CallbackDispatcher({
    redis,
    blocking,
    prefix,
    consumer: 'breaker-test',
    settings: {
      callback_timeout_ms: 200,
      callback_max_attempts: 3,
      callback_retry_interval_ms: RETRY_INTERVAL_MS,
      // One at a time: the breaker sees each outcome before the next POST.
      callback_concurrency: 1,
      callback_refresh_ms: 100,
    },
    logger: createLogger('silent'),
    // Per-message URLs only (the domain allows them; the client has no URL of its own).
    loadTargets: async (withMessageCallbacks) =>
      new Map(
        withMessageCallbacks.map((client) => [
          client,
          { url: '', secret: 'breaker', caFile: receiver.caFile, perMessage: true },
        ]),
      ),
    breaker: { failures: FAILURES, openMs: 60_000 },
  });
});

afterAll(async () => {
  await dispatcher?.stop();
  blocking?.disconnect();
  await receiver?.close();
});

it("stops POSTing to a message's own callback URL once its breaker opened, spending no attempts meanwhile", async () => {
  const ids = Array.from({ length: EVENTS }, () => randomUUID());
  await rememberMessageCallbacks(
    redis,
    prefix,
    600_000,
    CLIENT,
    ids.map((message_id) => ({ message_id, url: receiver.url })),
  );
  await dispatcher.start();
  const at = new Date().toISOString();
  await publishStatusEvents(
    redis,
    prefix,
    { retention_ms: 600_000, max_per_client: 10_000 },
    ids.map((message_id) => ({
      type: 'delivered' as const,
      message_id,
      client: CLIENT,
      client_id: `c${CLIENT}.default`,
      domain: 'default',
      attempt: 1,
      at,
    })),
  );
  await waitUntil(async () => receiver.hits.length >= FAILURES || undefined, 10_000, 'the first failures');
  // Several retry intervals: every event would have been tried, retried and given up by now.
  await new Promise((resolve) => setTimeout(resolve, RETRY_INTERVAL_MS * 5));
  expect(receiver.hits).toHaveLength(FAILURES);
  // Held back, not given up: nothing in the callbacks' dead letters.
  expect(await redis.xlen(callbackDeadLetterKey(prefix))).toBe(0);
});
