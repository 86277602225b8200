/**
 * The hub against the real Redis: one read's events reach every subscriber of the client
 * as the same array (what lets a WebSocket build its frames once per read), a subscriber
 * that resumed sees nothing twice, and the pause between reads follows how busy the
 * main thread is. Also the allocation-free event-id order and entry parser it relies on.
 */
import { afterEach, expect, it } from 'vitest';
import { EventHub, readInterval, type EventBatch, type EventSink } from '../../src/events/event-hub.js';
import {
  compareEventIds,
  fromStreamEntry,
  type StatusEvent,
  type StatusEventInput,
} from '../../src/events/status-event.js';
import { createLogger } from '../../src/logger.js';
import { publishStatusEvents } from '../../src/queue/status-events.js';
import { useTestRedis } from '../support/test-fixtures.js';

const { redis, prefix } = useTestRedis();
const retention = { retention_ms: 60_000, max_per_client: 1000 };
const hubs: EventHub[] = [];
afterEach(async () => {
  for (const hub of hubs.splice(0)) await hub.stop();
});

function hub(): EventHub {
  const created = new EventHub({
    redis,
    blocking: redis.duplicate(),
    prefix,
    logger: createLogger('silent'),
    blockMs: 50,
  });
  created.start();
  hubs.push(created);
  return created;
}

function input(client: number, message: string): StatusEventInput {
  return {
    type: 'queued',
    message_id: message,
    client,
    client_id: `c${client}.default`,
    domain: 'default',
    attempt: 0,
    at: new Date().toISOString(),
  };
}

class BatchSink implements EventSink {
  readonly batches: EventBatch[] = [];
  readonly single: StatusEvent[] = [];
  constructor(readonly client: number) {}
  deliver(event: StatusEvent): void {
    this.single.push(event);
  }
  deliverBatch(batch: EventBatch): void {
    this.batches.push(batch);
  }
  ids(): string[] {
    return [...this.single, ...this.batches.flatMap((b) => b.events)].map((e) => e.message_id);
  }
}

async function until(check: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

it('hands one read of a client to each of its subscribers as the same array, and none of another client', async () => {
  const events = hub();
  const [a, b, other] = [new BatchSink(31), new BatchSink(31), new BatchSink(32)];
  for (const sink of [a, b, other]) await events.subscribe(sink);
  await publishStatusEvents(redis, prefix, retention, [input(31, 'x'), input(31, 'y'), input(31, 'z')]);
  await until(() => a.ids().length === 3 && b.ids().length === 3);
  expect(a.ids()).toEqual(['x', 'y', 'z']);
  expect(a.single).toEqual([]);
  expect(a.batches[0]).toBe(b.batches[0]);
  expect(other.ids()).toEqual([]);
});

it('gives a resumed subscriber each event once, whether it came by catch-up or by a read', async () => {
  const events = hub();
  const live = new BatchSink(33);
  await events.subscribe(live);
  await publishStatusEvents(redis, prefix, retention, [input(33, 'a'), input(33, 'b')]);
  await until(() => live.ids().length === 2);
  const resumed = new BatchSink(33);
  const first = live.batches[0]!.events[0]!.event_id;
  const publishing = publishStatusEvents(redis, prefix, retention, [input(33, 'c')]);
  await events.subscribe(resumed, first);
  await publishing;
  await publishStatusEvents(redis, prefix, retention, [input(33, 'd')]);
  await until(() => resumed.ids().includes('d') && live.ids().includes('d'));
  expect(resumed.ids()).toEqual(['b', 'c', 'd']);
  expect(live.ids()).toEqual(['a', 'b', 'c', 'd']);
});

it('waits between reads in proportion to how busy the main thread was, not at all when idle', () => {
  expect(readInterval(0, 50)).toBe(0);
  expect(readInterval(0.1, 50)).toBe(1);
  expect(readInterval(0.5, 50)).toBe(13);
  expect(readInterval(1, 50)).toBe(50);
  expect(readInterval(1.2, 50)).toBe(50);
});

it('orders stream ids by number, whatever their lengths', () => {
  expect(compareEventIds('9-0', '10-0')).toBeLessThan(0);
  expect(compareEventIds('10-0', '9-0')).toBeGreaterThan(0);
  expect(compareEventIds('1733500000000-9', '1733500000000-10')).toBeLessThan(0);
  expect(compareEventIds('1733500000001-0', '1733500000000-99')).toBeGreaterThan(0);
  expect(compareEventIds('5-5', '5-5')).toBe(0);
  expect(compareEventIds('05-0', '5-0')).toBe(0);
  expect(compareEventIds('0-0', '0-1')).toBeLessThan(0);
});

it('reads a stream entry by field name and refuses one that is not a status event', () => {
  expect(
    fromStreamEntry('1-0', ['at', 'T', 'x', 'ignored', 'm', 'id', 't', 'failed', 'a', '3', 'ec', 'timeout']),
  ).toEqual({
    event_id: '1-0',
    type: 'failed',
    message_id: 'id',
    client_id: '',
    domain: '',
    attempt: 3,
    at: 'T',
    error_class: 'timeout',
  });
  expect(fromStreamEntry('1-0', ['t', 'bogus', 'm', 'id'])).toBeUndefined();
  expect(fromStreamEntry('1-0', ['t', 'queued'])).toBeUndefined();
  expect(fromStreamEntry('1-0', ['t', 'toString', 'm', 'id'])).toBeUndefined();
});
