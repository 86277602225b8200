/**
 * enqueue-n.lua and rate-take-1.lua against the real Redis: what is appended, what is
 * refused (and never appended), what the counters and records hold, and how concurrent
 * duplicates of one Idempotency-Key end up as one message.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { parseIdempotencyRecord, rememberResponse } from '../../src/queue/idempotency-record.js';
import { takeRateAndFindQueued } from '../../src/queue/message-lookup.js';
import { defineScripts, scriptedPipeline } from '../../src/queue/scripts.js';
import { unpackEntry } from '../../src/queue/stream-entry-codec.js';
import { fromStreamEntry, toStreamFields } from '../../src/events/status-event.js';
import { acknowledge, ensureGroups, readEntries } from '../../src/queue/stream-reader.js';
import {
  addEnqueue,
  parseEnqueueReply,
  REFUSED_BY_QUOTA,
  REFUSED_BY_RATE,
  type EnqueueCall,
  type EnqueuedMessage,
} from '../../src/queue/stream-writer.js';
import { TEST_REDIS_URL, useTestRedis } from '../support/test-fixtures.js';

const { redis, prefix } = useTestRedis();
defineScripts(redis);

interface Keys {
  stream: string;
  queued: string;
  limits: string;
  idempotency: string;
}

/** One request of one client, as most tests need. */
interface Args {
  rateLimit: number;
  rateWindowMs: number;
  dailyQuota: number;
  requestHash: string;
  idempotencyTtlMs: number;
  trackingId: string;
  timestamp: string;
  clientId: number;
  clientName: string;
  messages: EnqueuedMessage[];
}

let scope = 0;
/** Keys of a fresh client, so tests do not share counters. */
function keysOf(idempotencyKey = ''): Keys {
  const base = `${prefix}${++scope}:`;
  return {
    stream: `${prefix}stream`,
    queued: `${prefix}queued`,
    limits: `${base}limits`,
    idempotency: idempotencyKey && `${base}idem:${idempotencyKey}`,
  };
}

/** Bytes shaped like an envelope (version 1 unless told, key id k1, nonce, tag), with raw bytes inside. */
function standInEnvelope(inner: Buffer, version = 1): Buffer {
  return Buffer.concat([Buffer.from([version, 2]), Buffer.from('k1'), Buffer.alloc(12, 7), Buffer.alloc(16, 9), inner]);
}

/** A message as the ingest actor hands it to the script: already sealed (stand-in envelope bytes). */
function message(text = 'hello'): EnqueuedMessage {
  return {
    m: randomUUID(),
    be: standInEnvelope(Buffer.from(text)),
    se: standInEnvelope(Buffer.from([0, 254, 255])),
    h: 'ab'.repeat(32),
    p: 'p1',
    sm: '+141****0123',
    md: '',
    q: new Date().toISOString(),
  };
}

function args(overrides: Partial<Args> = {}): Args {
  return {
    rateLimit: 0,
    rateWindowMs: 60_000,
    dailyQuota: 0,
    requestHash: '',
    idempotencyTtlMs: 60_000,
    trackingId: 'track-1',
    timestamp: new Date().toISOString(),
    clientId: 7,
    clientName: 'demo',
    messages: [message()],
    ...overrides,
  };
}

function callOf(keys: Keys, a: Args): EnqueueCall {
  return {
    stream: keys.stream,
    queued: keys.queued,
    idempotencyTtlMs: a.idempotencyTtlMs,
    clients: [
      {
        limitsKey: keys.limits,
        clientId: a.clientId,
        clientName: a.clientName,
        rateLimit: a.rateLimit,
        rateWindowMs: a.rateWindowMs,
        dailyQuota: a.dailyQuota,
      },
    ],
    requests: [
      {
        client: 0,
        recordKey: keys.idempotency || null,
        requestHash: a.requestHash,
        trackingId: a.trackingId,
        timestamp: a.timestamp,
        messages: a.messages,
      },
    ],
  };
}

async function send(call: EnqueueCall, connection = redis) {
  const pipeline = scriptedPipeline(connection);
  addEnqueue(pipeline, call);
  const [[error, reply]] = (await pipeline.exec()) as [[Error | null, unknown]];
  if (error) throw error;
  return parseEnqueueReply(reply, call);
}

/** The one request's outcome, with its client's counters after it. */
async function enqueue(keys: Keys, a: Args, connection = redis) {
  const reply = await send(callOf(keys, a), connection);
  const [request] = reply.requests;
  const [client] = reply.clients;
  if (request!.kind !== 'done') return request!;
  const appended = request!.positions.filter((p) => p > 0).length;
  return {
    ...request!,
    rateUsed: client!.rateUsedBefore + appended,
    rateResetMs: client!.rateResetMs,
    quotaUsed: client!.quotaUsedBefore + appended,
  };
}

const hash = (c: string) => c.repeat(64);

/** A client's limits state: "<window start>|<requests in window>|<UTC day>|<messages that day>". */
async function limitsOf(key: string) {
  const state = await redis.get(key);
  if (state === null) return null;
  const [windowStart, rate, day, quota] = state.split('|').map(Number);
  return { windowStart: windowStart!, rate: rate!, day: day!, quota: quota! };
}
const today = () => Math.floor(Date.now() / 86_400_000);

describe('enqueue-n.lua', () => {
  it('appends the message packed in one field, indexes it as queued, and answers its position', async () => {
    const keys = { ...keysOf(), stream: `${prefix}packed-stream` };
    await ensureGroups(redis, [keys.stream]);
    const before = await redis.xlen(keys.stream);
    const m = message('indexed');
    const reply = await enqueue(keys, args({ messages: [m] }));
    expect(reply).toMatchObject({ kind: 'done', positions: [before + 1] });
    const [, fields] = (await redis.xrevrangeBuffer(keys.stream, '+', '-', 'COUNT', 1))[0]!;
    expect(fields).toHaveLength(2);
    expect(fields[0]!.toString()).toBe('d');
    // Binary-safe: the envelopes come back byte for byte, with the client's fields.
    expect(unpackEntry(fields[1]!)).toEqual({ ...m, c: '7', n: 'demo', rt: '', tg: '', rm: '' });
    expect(await redis.hget(keys.queued, m.m)).toBe(`7|${m.q}`);
    // No limits configured: no counters.
    expect(await redis.exists(keys.limits)).toBe(0);
    const [entry] = await readEntries(redis, 'consumer', [keys.stream], 10, false, 100);
    expect(entry?.fields).toEqual({ ...m, c: '7', n: 'demo', rt: '', tg: '', rm: '' });
  });

  it('writes one stream field each with entry_format fields (what brokers before packing read)', async () => {
    const keys = { ...keysOf(), stream: `${prefix}fields-stream` };
    await ensureGroups(redis, [keys.stream]);
    const m = message('fields');
    const reply = await send({ ...callOf(keys, args({ messages: [m] })), entryFormat: 'fields' });
    expect(reply.requests[0]).toMatchObject({ kind: 'done' });
    const [, fields] = (await redis.xrevrangeBuffer(keys.stream, '+', '-', 'COUNT', 1))[0]!;
    expect(fields).toEqual(
      [
        'm',
        m.m,
        'c',
        '7',
        'n',
        'demo',
        'be',
        m.be,
        'se',
        m.se,
        'h',
        m.h,
        'p',
        'p1',
        'sm',
        m.sm,
        'md',
        '',
        'q',
        m.q,
      ].map((v) => (Buffer.isBuffer(v) ? v : Buffer.from(v))),
    );
    expect(await redis.hget(keys.queued, m.m)).toBe(`7|${m.q}`);
    const [entry] = await readEntries(redis, 'consumer', [keys.stream], 10, false, 100);
    expect(entry?.fields).toEqual({ ...m, c: '7', n: 'demo', rt: '', tg: '', rm: '' });
  });

  it('refuses past the rate limit without appending, and starts the window at the first request', async () => {
    const keys = keysOf();
    const a = { rateLimit: 3, rateWindowMs: 30_000 };
    for (let i = 0; i < 3; i++) expect((await enqueue(keys, args(a))).kind).toBe('done');
    const length = await redis.xlen(keys.stream);
    const refused = await enqueue(keys, args(a));
    expect(refused).toMatchObject({ kind: 'done', rateUsed: 3, positions: [REFUSED_BY_RATE] });
    expect(await redis.xlen(keys.stream)).toBe(length);
    const state = await limitsOf(keys.limits);
    expect(state).toMatchObject({ rate: 3 });
    expect(Date.now() - state!.windowStart).toBeLessThan(5000);
    // Kept at least to the end of the window (and of the day, for the quota count).
    expect(await redis.pexpiretime(keys.limits)).toBeGreaterThanOrEqual(state!.windowStart + 30_000);
    if (refused.kind === 'done') expect(refused.rateResetMs).toBeLessThanOrEqual(30_000);
  });

  it('refuses past the daily quota (reported before the rate limit), counted per UTC day', async () => {
    const keys = keysOf();
    const a = { dailyQuota: 2, rateLimit: 2 };
    await enqueue(keys, args(a));
    await enqueue(keys, args(a));
    expect(await enqueue(keys, args(a))).toMatchObject({ kind: 'done', quotaUsed: 2, positions: [REFUSED_BY_QUOTA] });
    expect(await limitsOf(keys.limits)).toMatchObject({ day: today(), quota: 2 });
    expect(await redis.pexpiretime(keys.limits)).toBe((today() + 1) * 86_400_000);
    // Yesterday's count does not hold today; an expired window does not either.
    await redis.set(keys.limits, `${Date.now() - 120_000}|2|${today() - 1}|2`);
    expect(await enqueue(keys, args(a))).toMatchObject({
      kind: 'done',
      rateUsed: 1,
      quotaUsed: 1,
      positions: [expect.any(Number)],
    });
  });

  it("tells when the quota resets: the end of the UTC day by Redis' clock", async () => {
    const reply = await send(callOf(keysOf(), args({ dailyQuota: 5 })));
    expect(reply.dayEnd).toBe((today() + 1) * 86_400_000);
  });

  it('takes a batch in order up to what is left and refuses the rest', async () => {
    const keys = keysOf();
    const reply = await enqueue(
      keys,
      args({ rateLimit: 3, messages: [message(), message(), message(), message(), message()] }),
    );
    if (reply.kind !== 'done') throw new Error('expected done');
    expect(reply.positions.slice(0, 3).every((p) => p > 0)).toBe(true);
    expect(reply.positions.slice(3)).toEqual([REFUSED_BY_RATE, REFUSED_BY_RATE]);
    expect(reply.rateUsed).toBe(3);
  });

  it('replays a repeated Idempotency-Key and refuses it for another request', async () => {
    const keys = keysOf('key-1');
    const first = message();
    const a = args({ requestHash: hash('a'), messages: [first], rateLimit: 10 });
    expect((await enqueue(keys, a)).kind).toBe('done');
    const length = await redis.xlen(keys.stream);
    const again = await enqueue(keys, { ...a, messages: [message()] });
    if (again.kind !== 'replay') throw new Error(`expected a replay, got ${again.kind}`);
    const record = parseIdempotencyRecord(again.record);
    expect(record).toMatchObject({ hash: hash('a'), kind: 'outcomes', tracking_id: 'track-1' });
    if (record.kind === 'outcomes')
      expect(record.items).toEqual([
        { ok: true, message_id: first.m, queued_at: first.q, position: expect.any(Number) },
      ]);
    expect(await enqueue(keys, { ...a, requestHash: hash('b') })).toEqual({ kind: 'reused' });
    // Neither the replay nor the refusal appended or counted anything.
    expect(await redis.xlen(keys.stream)).toBe(length);
    expect(await limitsOf(keys.limits)).toMatchObject({ rate: 1 });
    expect(await redis.pttl(keys.idempotency)).toBeGreaterThan(55_000);
  });

  it('records nothing when the whole request was refused, so the same key works once allowed', async () => {
    const keys = keysOf('key-2');
    await redis.set(keys.limits, `${Date.now()}|1|0|0`, 'PX', 60_000);
    const a = args({ requestHash: hash('c'), rateLimit: 1 });
    expect(await enqueue(keys, a)).toMatchObject({ positions: [REFUSED_BY_RATE] });
    expect(await redis.exists(keys.idempotency)).toBe(0);
    await redis.del(keys.limits);
    expect(await enqueue(keys, a)).toMatchObject({ kind: 'done', positions: [expect.any(Number)] });
  });

  it('remembers a request without valid messages (an all-invalid batch) as an empty outcome', async () => {
    const keys = keysOf('key-3');
    expect(await enqueue(keys, args({ requestHash: hash('d'), messages: [] }))).toMatchObject({
      kind: 'done',
      positions: [],
    });
    const record = parseIdempotencyRecord((await redis.get(keys.idempotency))!);
    expect(record).toMatchObject({ kind: 'outcomes', items: [] });
  });

  it('turns 50 concurrent requests with one key into one message', async () => {
    const keys = keysOf('key-4');
    const length = await redis.xlen(keys.stream);
    // Separate connections, as from separate instances.
    const connections = Array.from({ length: 5 }, () => {
      const c = new Redis(TEST_REDIS_URL, { protocol: 2 });
      defineScripts(c);
      return c;
    });
    try {
      const replies = await Promise.all(
        Array.from({ length: 50 }, (_, i) => enqueue(keys, args({ requestHash: hash('e') }), connections[i % 5])),
      );
      expect(replies.filter((r) => r.kind === 'done')).toHaveLength(1);
      expect(replies.filter((r) => r.kind === 'replay')).toHaveLength(49);
      expect(await redis.xlen(keys.stream)).toBe(length + 1);
    } finally {
      for (const c of connections) c.disconnect();
    }
  });
});

describe('idempotency records of refused requests', () => {
  it('keeps the first response (SET NX GET) and returns it to later callers', async () => {
    const key = `${prefix}literal`;
    expect(
      await rememberResponse(redis, key, hash('f'), { status: 422, body: { error_code: 'INVALID_PAYLOAD' } }, 60_000),
    ).toBeNull();
    const earlier = await rememberResponse(redis, key, hash('g'), { status: 422, body: { other: true } }, 60_000);
    expect(earlier).toEqual({
      hash: hash('f'),
      kind: 'response',
      status: 422,
      body: { error_code: 'INVALID_PAYLOAD' },
    });
  });
});

describe('status lookup in Redis', () => {
  it('counts against the rate limit (rate-take-1.lua) and finds a message while it is in the stream', async () => {
    const keys = keysOf();
    const m = message();
    await enqueue(keys, args({ messages: [m], rateLimit: 2 }));
    const lookup = (limit: number) =>
      takeRateAndFindQueued(redis, {
        limitsKey: keys.limits,
        limit,
        windowMs: 10_000,
        queuedKey: keys.queued,
        messageId: m.m,
      });
    expect(await lookup(2)).toEqual({
      rate: { allowed: true, used: 2, resetMs: expect.any(Number) },
      queued: { client_id: 7, queued_at: m.q },
    });
    expect((await lookup(2)).rate).toMatchObject({ allowed: false, used: 2 });
    expect((await lookup(0)).rate).toBeNull();
  });

  it('carries the route and target chosen at submit in the entry and the index; an entry without them reads as before', async () => {
    const keys = { ...keysOf(), stream: `${prefix}routed-stream` };
    await ensureGroups(redis, [keys.stream]);
    const routed = { ...message('routed'), rt: 'uk', tg: 'eu' };
    const plain = message('plain');
    await enqueue(keys, args({ messages: [routed, plain] }));
    const find = async (messageId: string) =>
      (
        await takeRateAndFindQueued(redis, {
          limitsKey: keys.limits,
          limit: 0,
          windowMs: 1000,
          queuedKey: keys.queued,
          messageId,
        })
      ).queued;
    expect(await find(routed.m)).toEqual({ client_id: 7, queued_at: routed.q, target: 'eu', route: 'uk' });
    expect(await find(plain.m)).toEqual({ client_id: 7, queued_at: plain.q });
    const entries = await readEntries(redis, 'consumer', [keys.stream], 10, false, 100);
    expect(entries.map((e) => [e.fields?.m, e.fields?.tg, e.fields?.rt])).toEqual([
      [routed.m, 'eu', 'uk'],
      [plain.m, '', ''],
    ]);
  });

  it('loses the message from the index once delivery acknowledged it', async () => {
    const keys = { ...keysOf(), stream: `${prefix}ack-stream` };
    await ensureGroups(redis, [keys.stream]);
    const m = message();
    await enqueue(keys, args({ messages: [m] }));
    const entries = await readEntries(redis, 'consumer', [keys.stream], 10, false, 100);
    await acknowledge(redis, entries, () => keys.queued);
    expect(await redis.hget(keys.queued, m.m)).toBeNull();
    expect(await redis.xlen(keys.stream)).toBe(0);
  });

  it('reads an entry whose envelope does not parse as malformed, so it cannot stall the batches after it', async () => {
    const keys = { ...keysOf(), stream: `${prefix}bad-stream` };
    await ensureGroups(redis, [keys.stream]);
    const m = { ...message(), be: Buffer.from([9, 9, 9]) };
    await enqueue(keys, args({ messages: [m] }));
    const [entry] = await readEntries(redis, 'consumer', [keys.stream], 10, false, 100);
    expect(entry?.fields).toBeNull();
  });

  it('reads a v2 envelope with an empty se, and v1 pairs; a pair of mixed forms is malformed', async () => {
    const keys = { ...keysOf(), stream: `${prefix}v2-stream` };
    await ensureGroups(redis, [keys.stream]);
    const v2 = standInEnvelope(Buffer.from('number and body'), 2);
    const v1 = standInEnvelope(Buffer.from('field'));
    const sent = [
      { ...message(), be: v2, se: Buffer.alloc(0) },
      { ...message(), be: v1, se: v1 },
      { ...message(), be: v2, se: v1 },
      { ...message(), be: v1, se: Buffer.alloc(0) },
    ];
    await enqueue(keys, args({ messages: sent }));
    const entries = await readEntries(redis, 'consumer', [keys.stream], 10, false, 100);
    expect(entries.map((e) => (e.fields && 'be' in e.fields ? [e.fields.m, e.fields.se.length] : null))).toEqual([
      [sent[0]!.m, 0],
      [sent[1]!.m, v1.length],
      null,
      null,
    ]);
  });
});

describe('enqueue-n.lua with large and shared calls', () => {
  it('appends and indexes more messages in one call than Lua could unpack at once', async () => {
    const keys = { ...keysOf(), queued: `${prefix}big-queued` };
    const messages = Array.from({ length: 4500 }, () => message());
    const reply = await enqueue(keys, args({ messages }));
    if (reply.kind !== 'done') throw new Error('expected done');
    expect(reply.positions.every((p) => p > 0)).toBe(true);
    expect(reply.positions.at(-1)! - reply.positions[0]!).toBe(4499);
    expect(await redis.hlen(keys.queued)).toBe(4500);
  });
});

describe('enqueue-n.lua with several clients and requests in one call', () => {
  it('keeps each client to its own counters, and a duplicate later in the call replays the earlier request', async () => {
    const a = keysOf('dup');
    const b = keysOf();
    const call: EnqueueCall = {
      stream: a.stream,
      queued: a.queued,
      idempotencyTtlMs: 60_000,
      clients: [
        { limitsKey: a.limits, clientId: 1, clientName: 'a', rateLimit: 2, rateWindowMs: 60_000, dailyQuota: 0 },
        { limitsKey: b.limits, clientId: 2, clientName: 'b', rateLimit: 0, rateWindowMs: 60_000, dailyQuota: 1 },
      ],
      requests: [
        {
          client: 0,
          recordKey: a.idempotency,
          requestHash: hash('h'),
          trackingId: 't1',
          timestamp: 'ts',
          messages: [message()],
        },
        {
          client: 1,
          recordKey: null,
          requestHash: '',
          trackingId: 't2',
          timestamp: 'ts',
          messages: [message(), message()],
        },
        {
          client: 0,
          recordKey: a.idempotency,
          requestHash: hash('h'),
          trackingId: 't3',
          timestamp: 'ts',
          messages: [message()],
        },
        {
          client: 0,
          recordKey: null,
          requestHash: '',
          trackingId: 't4',
          timestamp: 'ts',
          messages: [message(), message()],
        },
      ],
    };
    const reply = await send(call);
    expect(reply.clients).toEqual([
      { rateUsedBefore: 0, rateResetMs: expect.any(Number), quotaUsedBefore: 0 },
      { rateUsedBefore: 0, rateResetMs: expect.any(Number), quotaUsedBefore: 0 },
    ]);
    const [first, other, duplicate, rest] = reply.requests;
    expect(first).toMatchObject({ kind: 'done', positions: [expect.any(Number)] });
    expect(other).toMatchObject({ kind: 'done', positions: [expect.any(Number), REFUSED_BY_QUOTA] });
    expect(duplicate).toMatchObject({ kind: 'replay' });
    // Client a: one appended by the first request, one left of its 2, then refused.
    expect(rest).toMatchObject({ kind: 'done', positions: [expect.any(Number), REFUSED_BY_RATE] });
    expect(await limitsOf(a.limits)).toMatchObject({ rate: 2, quota: 2 });
    expect(await limitsOf(b.limits)).toMatchObject({ quota: 1 });
  });
});

describe('queued status events', () => {
  it('appends one `queued` event per appended message to its client’s stream, none for a refused one, and keeps idempotency records apart', async () => {
    const keys = keysOf('events-key');
    const eventsKey = `${prefix}events:client:77`;
    const messages = [message('one'), message('two'), message('three')];
    const call = callOf(
      keys,
      args({ clientId: 77, clientName: 'ev', dailyQuota: 2, requestHash: 'e'.repeat(64), messages }),
    );
    call.clients[0]!.eventsKey = eventsKey;
    call.events = { domain: 'default', maxPerClient: 1000, minId: '0-0', ttlMs: 60_000 };
    const reply = await send(call);
    expect(reply.requests[0]).toEqual({
      kind: 'done',
      positions: [expect.any(Number), expect.any(Number), REFUSED_BY_QUOTA],
    });
    const entries = (await redis.xrange(eventsKey, '-', '+')) as Array<[string, string[]]>;
    const queued = (m: { m: string; q: string }) =>
      ({
        type: 'queued',
        message_id: m.m,
        client: 77,
        client_id: 'ev.default',
        domain: 'default',
        attempt: 0,
        at: m.q,
      }) as const;
    // Packed: byte for byte what the TypeScript writers write for the same event.
    expect(entries.map(([, f]) => f)).toEqual(messages.slice(0, 2).map((m) => toStreamFields(queued(m), 'packed')));
    expect(entries.map(([id, f]) => fromStreamEntry(id, f))).toEqual(
      entries.map(([id], i) => {
        const { client: _client, ...event } = queued(messages[i]!);
        return { event_id: id, ...event };
      }),
    );
    expect(await redis.pttl(eventsKey)).toBeGreaterThan(0);
    // The record is still found under its key (the events keys come before the records).
    const again = await send(call);
    expect(again.requests[0]).toMatchObject({ kind: 'replay' });
    expect(await redis.xlen(eventsKey)).toBe(2);
  });

  it('writes the `queued` events field by field with entry format `fields` (what older brokers read)', async () => {
    const keys = keysOf('events-fields');
    const eventsKey = `${prefix}events:client:79`;
    const messages = [message('old-one')];
    const call = callOf(keys, args({ clientId: 79, clientName: 'ev', requestHash: '', messages }));
    call.clients[0]!.eventsKey = eventsKey;
    call.events = { domain: 'default', maxPerClient: 1000, minId: '0-0', ttlMs: 60_000 };
    await send({ ...call, entryFormat: 'fields' });
    const entries = (await redis.xrange(eventsKey, '-', '+')) as Array<[string, string[]]>;
    expect(entries.map(([, f]) => f)).toEqual([
      ['t', 'queued', 'm', messages[0]!.m, 'c', 'ev.default', 'd', 'default', 'a', '0', 'at', messages[0]!.q],
    ]);
  });

  it('bounds the client’s stream to about maxPerClient, trimmed once per call', async () => {
    const keys = keysOf();
    const eventsKey = `${prefix}events:client:78`;
    let last = '';
    for (let round = 0; round < 5; round++) {
      const messages = Array.from({ length: 100 }, (_, i) => message(`bound-${round}-${i}`));
      last = messages.at(-1)!.m;
      const call = callOf(keys, args({ clientId: 78, clientName: 'bound', requestHash: '', messages }));
      call.clients[0]!.eventsKey = eventsKey;
      call.events = { domain: 'default', maxPerClient: 100, minId: '0-0', ttlMs: 60_000 };
      await send(call);
    }
    // MAXLEN ~ trims whole stream nodes (100 entries each by default): about the bound, never the 500 appended.
    const kept = await redis.xlen(eventsKey);
    expect(kept).toBeGreaterThanOrEqual(100);
    expect(kept).toBeLessThan(300);
    const newest = (await redis.xrevrange(eventsKey, '+', '-', 'COUNT', 1)) as Array<[string, string[]]>;
    expect(fromStreamEntry(newest[0]![0], newest[0]![1])?.message_id).toBe(last);
  });
});
