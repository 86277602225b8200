/**
 * store-ack-n.lua against the real Redis: a stored batch's entries acknowledged and
 * deleted in every stream, dropped from each domain's queued index, and its status events
 * appended exactly as src/events/status-event.ts reads them, bounded like every other
 * event stream.
 */
import { expect, it } from 'vitest';
import { toStreamFields } from '../../src/events/status-event.js';
import { clientEventsKey, DELIVERY_GROUP } from '../../src/queue/keys.js';
import { acknowledgeStored } from '../../src/queue/store-ack.js';
import { readEventsAfter } from '../../src/queue/status-events.js';
import { ensureGroups } from '../../src/queue/stream-reader.js';
import { useTestRedis } from '../support/test-fixtures.js';

const { redis, prefix } = useTestRedis();
const retention = { retention_ms: 60_000, max_per_client: 100 };

/** New entries of `streams` for the group, as `{stream, id, fields: {m}}` (the fields the acknowledgement needs). */
async function readNew(streams: string[], count: number) {
  const reply = (await redis.xreadgroup(
    'GROUP',
    DELIVERY_GROUP,
    'consumer',
    'COUNT',
    count,
    'STREAMS',
    ...streams,
    ...streams.map(() => '>'),
  )) as Array<[string, Array<[string, string[]]>]>;
  return reply.flatMap(([stream, items]) => items.map(([id, flat]) => ({ stream, id, fields: { m: flat[1]! } })));
}

async function append(stream: string, queued: string, messageId: string): Promise<void> {
  await redis.xadd(stream, '*', 'm', messageId, 'c', '1');
  await redis.hset(queued, messageId, '1|then');
}

it('acknowledges, deletes and unindexes every stream of the batch, and appends stored/delivered events per client', async () => {
  const streams = [`${prefix}a:stream`, `${prefix}b:stream`];
  const queued = new Map(streams.map((s) => [s, s.replace('stream', 'queued')]));
  await ensureGroups(redis, streams);
  await append(streams[0]!, queued.get(streams[0]!)!, 'm1');
  await append(streams[0]!, queued.get(streams[0]!)!, 'm2');
  await append(streams[1]!, queued.get(streams[1]!)!, 'm3');
  // Still queued, not in this batch: stays in its stream and index.
  const entries = await readNew(streams, 10);
  await append(streams[1]!, queued.get(streams[1]!)!, 'later');
  expect(entries).toHaveLength(3);
  // An entry deleted while pending (fields null) is acknowledged all the same.
  const gone = { stream: streams[1]!, id: '0-1', fields: null };

  const at = new Date().toISOString();
  await acknowledgeStored(redis, {
    prefix,
    retention,
    queuedIndexOf: (stream) => queued.get(stream)!,
    entries: [...entries, gone],
    stored: [
      { message_id: 'm1', client: 1, client_id: 'one.a', domain: 'a', delivered: true },
      { message_id: 'm2', client: 2, client_id: 'two.a', domain: 'a', delivered: false },
      { message_id: 'm3', client: 1, client_id: 'one.b', domain: 'b', delivered: true },
    ],
    at,
  });

  expect(await redis.xlen(streams[0]!)).toBe(0);
  expect(await redis.xlen(streams[1]!)).toBe(1);
  for (const stream of streams) {
    const pending = (await redis.xpending(stream, DELIVERY_GROUP)) as [number];
    expect(pending[0]).toBe(0);
  }
  expect(await redis.hkeys(queued.get(streams[0]!)!)).toEqual([]);
  expect(await redis.hkeys(queued.get(streams[1]!)!)).toEqual(['later']);

  const one = await readEventsAfter(redis, prefix, 1, '0-0', 10);
  expect(one.map(({ event_id: _, ...event }) => event)).toEqual([
    { type: 'stored', message_id: 'm1', client_id: 'one.a', domain: 'a', attempt: 0, at },
    { type: 'delivered', message_id: 'm1', client_id: 'one.a', domain: 'a', attempt: 1, at },
    { type: 'stored', message_id: 'm3', client_id: 'one.b', domain: 'b', attempt: 0, at },
    { type: 'delivered', message_id: 'm3', client_id: 'one.b', domain: 'b', attempt: 1, at },
  ]);
  const two = await readEventsAfter(redis, prefix, 2, '0-0', 10);
  expect(two.map((e) => [e.type, e.message_id, e.attempt])).toEqual([['stored', 'm2', 0]]);
  // Packed (the default): byte for byte what the TypeScript writers write for the same event.
  const raw = (await redis.xrange(clientEventsKey(prefix, 2), '-', '+')) as Array<[string, string[]]>;
  expect(raw.map(([, fields]) => fields)).toEqual([
    toStreamFields({ type: 'stored', message_id: 'm2', client: 2, client_id: 'two.a', domain: 'a', attempt: 0, at }),
  ]);
  // Each client's stream expires with the retention, like every event stream.
  for (const client of [1, 2]) {
    const ttl = await redis.pttl(clientEventsKey(prefix, client));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(retention.retention_ms);
  }
});

it('appends the events field by field with entry format `fields` (what older brokers read)', async () => {
  const stream = `${prefix}old:stream`;
  const index = `${prefix}old:queued`;
  await ensureGroups(redis, [stream]);
  await append(stream, index, 'old1');
  const entries = await readNew([stream], 10);
  const at = new Date().toISOString();
  await acknowledgeStored(redis, {
    prefix,
    retention,
    queuedIndexOf: () => index,
    entries,
    stored: [{ message_id: 'old1', client: 31, client_id: 'old.a', domain: 'a', delivered: true }],
    at,
    format: 'fields',
  });
  const raw = (await redis.xrange(clientEventsKey(prefix, 31), '-', '+')) as Array<[string, string[]]>;
  expect(raw.map(([, fields]) => fields)).toEqual([
    ['t', 'stored', 'm', 'old1', 'c', 'old.a', 'd', 'a', 'a', '0', 'at', at],
    ['t', 'delivered', 'm', 'old1', 'c', 'old.a', 'd', 'a', 'a', '1', 'at', at],
  ]);
});

it('bounds each client stream (MAXLEN ~, MINID ~) and takes batches longer than one unpack', async () => {
  const stream = `${prefix}big:stream`;
  const index = `${prefix}big:queued`;
  await ensureGroups(redis, [stream]);
  const count = 2500;
  const pipeline = redis.pipeline();
  for (let i = 0; i < count; i++) pipeline.xadd(stream, '*', 'm', `m${i}`).hset(index, `m${i}`, 'x');
  await pipeline.exec();
  const entries = await readNew([stream], count);
  expect(entries).toHaveLength(count);
  await acknowledgeStored(redis, {
    prefix,
    retention,
    queuedIndexOf: () => index,
    entries,
    stored: entries.map((_, i) => ({
      message_id: `m${i}`,
      client: 9,
      client_id: 'nine.big',
      domain: 'big',
      delivered: true,
    })),
    at: new Date().toISOString(),
  });
  expect(await redis.xlen(stream)).toBe(0);
  expect(await redis.exists(index)).toBe(0);
  const kept = await redis.xlen(clientEventsKey(prefix, 9));
  // `~`: Redis trims whole macro nodes, so a little more than the bound may stay.
  expect(kept).toBeGreaterThanOrEqual(retention.max_per_client);
  expect(kept).toBeLessThan((2 * count) / 10);
});
