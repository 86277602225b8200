/**
 * The ingest actor's planner against the real Redis: a domain's requests share one script
 * call, each still gets its own positions and its client's counters as they stood after
 * it; an unknown domain fails alone.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { EnqueuePlanner, queueUnavailable } from '../../src/ingest/enqueue-planner.js';
import type { EnqueueRequest, EnqueueResult } from '../../src/ingest/ingest.types.js';
import { loadConfig } from '../../src/config/config.js';
import { defineScripts } from '../../src/queue/scripts.js';
import { useTestRedis } from '../support/test-fixtures.js';
import { testSealer } from '../support/test-keys.js';

const { redis, prefix } = useTestRedis();
defineScripts(redis);
const config = loadConfig({
  values: { redis: { key_prefix: prefix }, limits: { rate_limit: 5, daily_quota: 100 } },
  env: {},
});

function request(clientId: number, count = 1, overrides: Partial<EnqueueRequest> = {}): EnqueueRequest {
  const now = new Date().toISOString();
  return {
    client_id: clientId,
    client_name: `c${clientId}`,
    common_name: `c${clientId}.default`,
    domain: 'default',
    idempotency: null,
    tracking_id: randomUUID(),
    timestamp: now,
    messages: Array.from({ length: count }, () => ({
      message_id: randomUUID(),
      sender_number: '+14155550123',
      message_body: 'hi',
      metadata: '',
      queued_at: now,
    })),
    ...overrides,
  };
}

const done = (result: EnqueueResult | undefined) => {
  if (!result?.ok || result.kind !== 'done') throw new Error(`expected done, got ${JSON.stringify(result)}`);
  return result;
};

describe('EnqueuePlanner', () => {
  it('runs a batch in one call per domain and splits the outcome back per request, in order', async () => {
    const planner = new EnqueuePlanner(config, testSealer());
    const results = await planner.run(
      redis,
      [
        request(1),
        request(2),
        request(1),
        request(1, 3),
        request(1, 1, { idempotency: { key: 'k', hash: 'a'.repeat(64) } }),
        request(1),
        request(1, 1, { domain: 'nowhere' }),
      ],
      queueUnavailable,
    );
    // Client 1: 1 + 1 + 3 messages fill its limit of 5; what follows is refused.
    const [a, other, b, batch, keyed, last, unknown] = results;
    expect(done(a).positions).toHaveLength(1);
    expect(done(a).rate).toMatchObject({ limit: 5, remaining: 4 });
    expect(done(b).rate?.remaining).toBe(3);
    expect(done(batch).positions.filter((p) => p > 0)).toHaveLength(3);
    expect(done(batch).rate?.remaining).toBe(0);
    expect(done(last).positions).toEqual([-1]);
    expect(done(last).quota).toMatchObject({ limit: 100, remaining: 95 });
    expect(done(keyed).positions).toEqual([-1]);
    expect(done(other).rate?.remaining).toBe(4);
    expect(unknown).toMatchObject({ ok: false, error: { code: 'UNKNOWN_DOMAIN' } });
    // Positions are the places in the one stream, in order.
    const placed = [a, b, batch].flatMap((r) => done(r).positions);
    expect(placed).toEqual([...placed].sort((x, y) => x - y));
  });
});

describe('queueUnavailable', () => {
  it('says "maybe queued" when the connection broke with the append on the wire, a plain refusal otherwise', () => {
    for (const message of [
      'Connection is closed.',
      'read ECONNRESET',
      'Command timed out',
      'Command aborted due to connection close',
      "Socket timeout. Expecting data, but didn't receive any in 2000ms.",
    ]) {
      expect(queueUnavailable(new Error(message))).toMatchObject({
        ok: false,
        error: {
          code: 'QUEUE_UNAVAILABLE',
          details: { outcome: 'unknown', cause: 'the connection to the queue broke with the append under way' },
        },
      });
    }
    for (const message of [
      "Stream isn't writeable and enableOfflineQueue options is false",
      'connect ECONNREFUSED 127.0.0.1:6379',
      'MISCONF disk full',
    ]) {
      const result = queueUnavailable(new Error(message));
      expect(result).toMatchObject({ ok: false, error: { code: 'QUEUE_UNAVAILABLE' } });
      expect(JSON.stringify(result)).not.toContain('unknown');
    }
  });

  it("tells the client the kind of failure in the broker's words, never the driver's or Redis' own text", () => {
    const causes = [
      [
        'Reached the max retries per request limit (which is 20). Refer to "maxRetriesPerRequest" option for details.',
        'the connection to the queue broke with the append under way',
      ],
      ['ERR Error running script (call to f_0123): @user_script:1: something internal', 'the queue refused the append'],
    ] as const;
    for (const [message, cause] of causes) {
      const result = queueUnavailable(new Error(message));
      expect(result).toMatchObject({ ok: false, error: { code: 'QUEUE_UNAVAILABLE', details: { cause } } });
      expect(JSON.stringify(result)).not.toMatch(/maxRetriesPerRequest|user_script/);
    }
  });
});
