/**
 * The delivery side of the domain streams: a consumer group per stream, reads of new and
 * of own pending entries, acknowledgement (XACK + XDEL, so a stream holds only what is
 * not yet stored) and reclaiming entries a dead consumer left pending (XPENDING + XCLAIM).
 */
import type { ChainableCommander, Redis } from 'ioredis';
import { sealedPairParses } from '../crypto/envelope.js';
import { DELIVERY_GROUP } from './keys.js';
import { PACKED_FIELD, unpackEntry } from './stream-entry-codec.js';
import type { StreamEntryFields } from './stream-writer.js';

/**
 * An entry appended by a broker before sealing moved ahead of the append (body `b` and
 * number `s` in the clear). Still read after an upgrade with a backlog: the store
 * pipeline seals these through the encryption actor.
 */
export interface PlaintextEntryFields {
  m: string;
  c: string;
  n: string;
  s: string;
  b: string;
  md: string;
  q: string;
  rt: string;
  tg: string;
  rm: string;
}

const PACKED_FIELD_CODE = PACKED_FIELD.charCodeAt(0);

export interface StreamEntry {
  stream: string;
  id: string;
  /** null when the entry was deleted while pending (already stored and acked elsewhere), or malformed. */
  fields: StreamEntryFields | PlaintextEntryFields | null;
}

export function isPlaintextEntry(fields: StreamEntryFields | PlaintextEntryFields): fields is PlaintextEntryFields {
  return 'b' in fields;
}

/** Creates the delivery group where it is missing; returns the streams it had to create it on. */
export async function ensureGroups(redis: Redis, streams: string[]): Promise<string[]> {
  const created: string[] = [];
  for (const stream of streams) {
    try {
      // '0': a group created after messages arrived must still deliver them.
      await redis.xgroup('CREATE', stream, DELIVERY_GROUP, '0', 'MKSTREAM');
      created.push(stream);
    } catch (error) {
      if (!String((error as Error).message).includes('BUSYGROUP')) throw error;
    }
  }
  return created;
}

/**
 * `pending` true: this consumer's own unacknowledged entries (after a crash or a failed
 * store); false: new entries, blocking up to `blockMs`.
 */
export async function readEntries(
  redis: Redis,
  consumer: string,
  streams: string[],
  count: number,
  pending: boolean,
  blockMs: number,
): Promise<StreamEntry[]> {
  const ids = streams.map(() => (pending ? '0' : '>'));
  const args: Array<string | number> = ['GROUP', DELIVERY_GROUP, consumer, 'COUNT', count];
  if (!pending) args.push('BLOCK', blockMs);
  args.push('STREAMS', ...streams, ...ids);
  // Binary-safe: the envelopes are raw bytes.
  const reply = (await redis.callBuffer('XREADGROUP', ...args)) as Array<
    [Buffer, Array<[Buffer, Buffer[] | null]>]
  > | null;
  if (!reply) return [];
  const entries: StreamEntry[] = [];
  for (const [stream, items] of reply) {
    const name = stream.toString();
    for (const [id, flat] of items)
      entries.push({ stream: name, id: id.toString(), fields: flat ? toFields(flat) : null });
  }
  return entries;
}

function toFields(flat: Buffer[]): StreamEntryFields | PlaintextEntryFields | null {
  // The packed form: one field (stream-entry-codec.ts).
  if (flat.length === 2 && flat[0]!.length === 1 && flat[0]![0] === PACKED_FIELD_CODE) {
    const fields = unpackEntry(flat[1]!);
    return fields?.m && fields.c && sealedPairParses(fields.be, fields.se) ? fields : null;
  }
  const record = new Map<string, Buffer>();
  for (let i = 0; i + 1 < flat.length; i += 2) record.set(flat[i]!.toString('latin1'), flat[i + 1]!);
  const text = (name: string) => record.get(name)?.toString('utf8');
  const m = text('m');
  const c = text('c');
  if (!m || !c) return null;
  // rt/tg/rm are absent from entries written before routing: '' = the domain's default target.
  const common = {
    m,
    c,
    n: text('n') ?? '',
    md: text('md') ?? '',
    q: text('q') ?? new Date().toISOString(),
    rt: text('rt') ?? '',
    tg: text('tg') ?? '',
    rm: text('rm') ?? '',
  };
  const be = record.get('be');
  const se = record.get('se');
  const h = text('h');
  const p = text('p');
  // `se` is empty beside a v2 `be` (number and body in one envelope), a v1 envelope beside
  // a v1 one. An envelope whose header does not parse could never be opened: malformed, like a
  // missing field (acknowledged with a warning rather than failing every batch after it).
  if (be && se && h && p && sealedPairParses(be, se)) return { ...common, be, se, h, p, sm: text('sm') ?? '' };
  const s = text('s');
  const b = text('b');
  if (s !== undefined && b !== undefined) return { ...common, s, b };
  return null;
}

/**
 * Acknowledges and deletes stored entries, and drops them from their domain's queued
 * index (status lookups then find them in MySQL), one pipeline for the whole batch.
 * `alongside` adds the caller's own writes to that pipeline (the batch's status events).
 */
export async function acknowledge(
  redis: Redis,
  entries: Array<Pick<StreamEntry, 'stream' | 'id'> & { fields?: Pick<StreamEntryFields, 'm'> | null }>,
  queuedIndexOf: (stream: string) => string | undefined = () => undefined,
  alongside: (pipeline: ChainableCommander) => void = () => undefined,
): Promise<void> {
  if (entries.length === 0) return;
  const byStream = new Map<string, { ids: string[]; messageIds: string[] }>();
  for (const { stream, id, fields } of entries) {
    const group = byStream.get(stream) ?? { ids: [], messageIds: [] };
    group.ids.push(id);
    if (fields) group.messageIds.push(fields.m);
    byStream.set(stream, group);
  }
  const pipeline = redis.pipeline();
  for (const [stream, { ids, messageIds }] of byStream) {
    pipeline.xack(stream, DELIVERY_GROUP, ...ids);
    pipeline.xdel(stream, ...ids);
    const index = queuedIndexOf(stream);
    if (index && messageIds.length > 0) pipeline.hdel(index, ...messageIds);
  }
  alongside(pipeline);
  const replies = (await pipeline.exec()) ?? [];
  const failed = replies.find(([err]) => err);
  if (failed) throw failed[0];
}

/**
 * Claims the entries another consumer (a broker that stopped) left pending longer than
 * `minIdleMs`, so this one stores them. This consumer's own pending entries are not
 * claimed: it reads them again itself (a failed batch's, or a restarted actor's), and
 * reporting those as another consumer's would send an operator looking for a dead broker.
 * Returns how many were claimed and from whom.
 */
export async function reclaimStale(
  redis: Redis,
  consumer: string,
  streams: string[],
  minIdleMs: number,
  count: number,
): Promise<{ claimed: number; from: string[] }> {
  let claimed = 0;
  const from = new Set<string>();
  for (const stream of streams) {
    const pending = (await redis.call('XPENDING', stream, DELIVERY_GROUP, 'IDLE', minIdleMs, '-', '+', count)) as Array<
      [string, string, number, number]
    >;
    const theirs = pending.filter(([, owner]) => owner !== consumer);
    if (theirs.length === 0) continue;
    // XCLAIM checks the idle time again: an entry its owner touched meanwhile stays its own.
    const ids = (await redis.call(
      'XCLAIM',
      stream,
      DELIVERY_GROUP,
      consumer,
      minIdleMs,
      ...theirs.map(([id]) => id),
      'JUSTID',
    )) as string[];
    claimed += ids.length;
    const owners = new Map(theirs.map(([id, owner]) => [id, owner]));
    for (const id of ids) from.add(owners.get(id) ?? '');
  }
  return { claimed, from: [...from].filter(Boolean) };
}
