/**
 * The delivery side of the domain streams: a consumer group per stream, reads of new and
 * of own pending entries, acknowledgement (XACK + XDEL, so a stream holds only what is
 * not yet stored) and reclaiming entries a dead consumer left pending (XAUTOCLAIM).
 */
import type { Redis } from 'ioredis';
import { DELIVERY_GROUP } from './keys.js';
import type { StreamEntryFields } from './stream-writer.js';

export interface StreamEntry {
  stream: string;
  id: string;
  /** null when the entry was deleted while pending (already stored and acked elsewhere). */
  fields: StreamEntryFields | null;
}

export async function ensureGroups(redis: Redis, streams: string[]): Promise<void> {
  for (const stream of streams) {
    try {
      // '0': a group created after messages arrived must still deliver them.
      await redis.xgroup('CREATE', stream, DELIVERY_GROUP, '0', 'MKSTREAM');
    } catch (error) {
      if (!String((error as Error).message).includes('BUSYGROUP')) throw error;
    }
  }
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
  const reply = (await redis.call('XREADGROUP', ...args)) as Array<[string, Array<[string, string[] | null]>]> | null;
  if (!reply) return [];
  const entries: StreamEntry[] = [];
  for (const [stream, items] of reply) {
    for (const [id, flat] of items) entries.push({ stream, id, fields: flat ? toFields(flat) : null });
  }
  return entries;
}

function toFields(flat: string[]): StreamEntryFields | null {
  const record: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) record[flat[i]!] = flat[i + 1]!;
  if (!record.m || record.s === undefined || record.b === undefined || !record.c) return null;
  return {
    m: record.m,
    c: record.c,
    n: record.n ?? '',
    s: record.s,
    b: record.b,
    md: record.md ?? '',
    q: record.q ?? new Date().toISOString(),
  };
}

/**
 * Acknowledges and deletes stored entries, and drops them from their domain's queued
 * index (status lookups then find them in MySQL), one pipeline for the whole batch.
 */
export async function acknowledge(
  redis: Redis,
  entries: Array<Pick<StreamEntry, 'stream' | 'id'> & { fields?: Pick<StreamEntryFields, 'm'> | null }>,
  queuedIndexOf: (stream: string) => string | undefined = () => undefined,
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
  const replies = (await pipeline.exec()) ?? [];
  const failed = replies.find(([err]) => err);
  if (failed) throw failed[0];
}

/** Takes over entries idle longer than `minIdleMs` (their consumer died); returns how many. */
export async function reclaimStale(
  redis: Redis,
  consumer: string,
  streams: string[],
  minIdleMs: number,
  count: number,
): Promise<number> {
  let claimed = 0;
  for (const stream of streams) {
    const reply = (await redis.call(
      'XAUTOCLAIM',
      stream,
      DELIVERY_GROUP,
      consumer,
      minIdleMs,
      '0-0',
      'COUNT',
      count,
    )) as [string, unknown[]];
    claimed += reply?.[1]?.length ?? 0;
  }
  return claimed;
}
