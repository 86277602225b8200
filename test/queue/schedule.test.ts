/**
 * The webhook schedule against the real Redis: first attempts, claims under a lease,
 * retries at their due time, and a stored batch scheduled a second time (a replay).
 */
import { expect, it } from 'vitest';
import { domainKeys } from '../../src/queue/keys.js';
import { DeliverySchedule } from '../../src/queue/schedule.js';
import { defineScripts } from '../../src/queue/scripts.js';
import { readEventsAfter } from '../../src/queue/status-events.js';
import { useTestRedis } from '../support/test-fixtures.js';

const { redis, prefix } = useTestRedis();
const keys = domainKeys(prefix, { key_prefix: 'hooks' });
const schedule = new DeliverySchedule(redis, defineScripts(redis));

it('never schedules again a message whose attempt is under way or whose retry waits', async () => {
  const now = Date.now();
  await schedule.scheduleNew(keys, ['a', 'b', 'c'], now);
  // a: leased by an attempt under way; b: failed, its retry due in 2 s (Retry-After).
  expect(await schedule.claimDue(keys, now, 2, 60_000)).toEqual(['a', 'b']);
  await schedule.settle(keys, [], [{ id: 'b', dueAt: now + 2000 }]);

  // The batch that stored them is stored again, and one new message with it.
  await schedule.scheduleNew(keys, ['a', 'b', 'c', 'd'], now + 10);
  expect(await redis.zrange(keys.schedule, '0', '-1', 'WITHSCORES')).toEqual([
    'c',
    String(now),
    'd',
    String(now + 10),
    'b',
    String(now + 2000),
  ]);
  expect(await redis.zrange(keys.inflight, '0', '-1')).toEqual(['a']);
  // Only c and d are due: no second POST of a, no early one of b.
  expect((await schedule.claimDue(keys, now + 100, 10, 60_000)).sort()).toEqual(['c', 'd']);
});

it('counts what is due now: scheduled and due, or leased by a holder whose lease ran out', async () => {
  const countKeys = domainKeys(prefix, { key_prefix: 'counted' });
  const now = Date.now();
  await schedule.scheduleNew(countKeys, ['due-1', 'due-2', 'leased', 'stale'], now);
  await schedule.scheduleNew(countKeys, ['later'], now + 60_000);
  expect(await schedule.countDue(countKeys, now)).toBe(4);
  // Two leased: one for a minute, one whose lease ends before `now + 10`.
  expect(await schedule.claimDue(countKeys, now, 1, 60_000)).toHaveLength(1);
  expect(await schedule.claimDue(countKeys, now, 1, 5)).toHaveLength(1);
  expect(await schedule.countDue(countKeys, now + 10)).toBe(3);
});

it('leases handed-over first attempts as a claim does: one whose holder died is due again when its lease ends', async () => {
  const leaseKeys = domainKeys(prefix, { key_prefix: 'leased' });
  const now = Date.now();
  await schedule.lease(leaseKeys, ['x', 'y'], now + 1000);
  expect(await redis.zrange(leaseKeys.inflight, '0', '-1', 'WITHSCORES')).toEqual([
    'x',
    String(now + 1000),
    'y',
    String(now + 1000),
  ]);
  // A replay of the batch that stored them leaves them alone, as it does claimed ones.
  await schedule.scheduleNew(leaseKeys, ['x', 'y'], now);
  expect(await redis.zcard(leaseKeys.schedule)).toBe(0);
  expect(await schedule.claimDue(leaseKeys, now + 500, 10, 60_000)).toEqual([]);
  // The holder never settled them: once the lease ends they are claimed again.
  expect((await schedule.claimDue(leaseKeys, now + 1001, 10, 60_000)).sort()).toEqual(['x', 'y']);
});

it('settles a batch in one step: retries back on the schedule, leases dropped, each outcome event in its client stream', async () => {
  const settleKeys = domainKeys(prefix, { key_prefix: 'settled' });
  const now = Date.now();
  await schedule.scheduleNew(settleKeys, ['ok-1', 'ok-2', 'again', 'dead'], now);
  expect(await schedule.claimDue(settleKeys, now, 10, 60_000)).toHaveLength(4);
  const at = new Date(now).toISOString();
  const base = { domain: 'default', attempt: 1, at };
  const retention = { retention_ms: 60_000, max_per_client: 1000 };
  for (const format of ['packed', 'fields'] as const) {
    const list = [
      { ...base, type: 'delivered' as const, message_id: 'ok-1', client: 7, client_id: 'seven.default' },
      { ...base, type: 'delivered' as const, message_id: 'ok-2', client: 8, client_id: 'eight.default' },
      {
        ...base,
        type: 'retry_scheduled' as const,
        message_id: 'again',
        client: 7,
        client_id: 'seven.default',
        next_attempt_at: new Date(now + 5000).toISOString(),
        error_class: 'http_5xx',
      },
      {
        ...base,
        type: 'failed' as const,
        message_id: 'dead',
        client: 8,
        client_id: 'eight.default',
        error_class: 'http_4xx',
      },
    ];
    const formatPrefix = `${prefix}${format}:`;
    await schedule.settle(settleKeys, ['ok-1', 'ok-2', 'dead'], [{ id: 'again', dueAt: now + 5000 }], {
      prefix: formatPrefix,
      retention,
      format,
      list,
    });
    const seven = await readEventsAfter(redis, formatPrefix, 7, '0-0', 10);
    const eight = await readEventsAfter(redis, formatPrefix, 8, '0-0', 10);
    const plain = (events: typeof seven) => events.map(({ event_id: _id, ...event }) => event);
    const written = (i: number) => {
      const { client: _client, ...event } = list[i]!;
      return event;
    };
    expect(plain(seven)).toEqual([written(0), written(2)]);
    expect(plain(eight).map((e) => [e.type, e.message_id, e.error_class])).toEqual([
      ['delivered', 'ok-2', undefined],
      ['failed', 'dead', 'http_4xx'],
    ]);
    // Bounded like every event stream: it expires with the retention.
    expect(await redis.pttl(`${formatPrefix}events:client:7`)).toBeGreaterThan(50_000);
  }
  expect(await redis.zrange(settleKeys.schedule, '0', '-1', 'WITHSCORES')).toEqual(['again', String(now + 5000)]);
  expect(await redis.zcard(settleKeys.inflight)).toBe(0);
});

it('settles without events, and leaves a lease it was not given alone', async () => {
  const bareKeys = domainKeys(prefix, { key_prefix: 'bare' });
  const now = Date.now();
  await schedule.scheduleNew(bareKeys, ['p', 'q'], now);
  expect(await schedule.claimDue(bareKeys, now, 10, 60_000)).toHaveLength(2);
  await schedule.settle(bareKeys, ['p'], []);
  expect(await redis.zrange(bareKeys.inflight, '0', '-1')).toEqual(['q']);
});

it('rejects a dead-letter write Redis refused (a pipeline resolves with each command error)', async () => {
  const refused = domainKeys(prefix, { key_prefix: 'refused' });
  // Any command error will do: here the stream's key holds a string.
  await redis.set(refused.dead, 'not a stream');
  await expect(
    schedule.deadLetter(refused, [{ message_id: 'm', attempts: 1, last_error: 'HTTP 503' }]),
  ).rejects.toThrow(/WRONGTYPE/);
});

it('dead-letters only the messages that have no entry yet', async () => {
  const missing = domainKeys(prefix, { key_prefix: 'missing' });
  const since = Date.now() - 1000;
  await schedule.deadLetter(missing, [{ message_id: 'listed', attempts: 3, last_error: 'HTTP 503' }]);
  const written = await schedule.deadLetterMissing(
    missing,
    [
      { message_id: 'listed', attempts: 3, last_error: 'HTTP 503' },
      { message_id: 'lost', attempts: 3, last_error: 'HTTP 503' },
    ],
    since,
  );
  expect(written).toEqual(['lost']);
  const entries = await redis.xrange(missing.dead, '-', '+');
  expect(entries.map(([, fields]) => fields[1])).toEqual(['listed', 'lost']);
});
