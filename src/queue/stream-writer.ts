/**
 * The write side of the domain streams: `enqueue-n.lua` checks each request's
 * Idempotency-Key and its client's daily quota and rate limit, and appends its messages,
 * in one atomic step. The ingest actor sends one such call per domain and batch, in one
 * pipeline (group commit): Redis fsyncs (appendfsync always) or buffers (everysec) them
 * together, and each request is answered only after Redis acknowledged the script.
 */
import type { ScriptedPipeline } from './scripts.js';
import { packEntry } from './stream-entry-codec.js';
import type { EntryFormat, StreamEntryFields } from './stream-entry.types.js';

export type { EntryFormat, StreamEntryFields } from './stream-entry.types.js';

/** One message as the script takes it; the client fields are its client's. */
export type EnqueuedMessage = Pick<StreamEntryFields, 'm' | 'be' | 'se' | 'h' | 'p' | 'sm' | 'md' | 'q'> &
  Partial<Pick<StreamEntryFields, 'rt' | 'tg' | 'rm'>>;

/** A client of the call, with its limits. */
export interface EnqueueClient {
  /** Its rate window and daily quota counts. */
  limitsKey: string;
  clientId: number;
  clientName: string;
  /** 0 = no limit. */
  rateLimit: number;
  rateWindowMs: number;
  /** 0 = no quota. */
  dailyQuota: number;
  /** Its status event stream (with `EnqueueCall.events`). */
  eventsKey?: string;
}

/** `queued` status events, appended with their messages (each client then needs `eventsKey`). */
export interface EnqueueEvents {
  domain: string;
  maxPerClient: number;
  /** Older events go: the retention's oldest stream id (`<ms>-0`). */
  minId: string;
  ttlMs: number;
}

export interface EnqueueRequestArgs {
  /** Index into the call's clients. */
  client: number;
  /** The Redis key of its Idempotency-Key record, or null without one. */
  recordKey: string | null;
  /** sha256 hex of the request ('' without an Idempotency-Key). */
  requestHash: string;
  trackingId: string;
  timestamp: string;
  messages: EnqueuedMessage[];
}

/** One `enqueue-n` call: a domain's requests of one batch. */
export interface EnqueueCall {
  stream: string;
  queued: string;
  idempotencyTtlMs: number;
  clients: EnqueueClient[];
  requests: EnqueueRequestArgs[];
  /** Absent: no status events. */
  events?: EnqueueEvents;
  /** Absent: packed. */
  entryFormat?: EntryFormat;
}

export const REFUSED_BY_RATE = -1;
export const REFUSED_BY_QUOTA = -2;

export type RequestReply =
  | { kind: 'replay'; record: string }
  | { kind: 'reused' }
  /** positions[i] ≥ 1: appended at that place; REFUSED_BY_RATE / REFUSED_BY_QUOTA: not appended. */
  | { kind: 'done'; positions: number[] };

export interface EnqueueReply {
  /** The end of the current UTC day by Redis' clock (unix ms): when daily quotas reset. */
  dayEnd: number;
  /** Per client of the call: its counts before the call, and when its window ends. */
  clients: Array<{ rateUsedBefore: number; rateResetMs: number; quotaUsedBefore: number }>;
  requests: RequestReply[];
}

/** Queues one `enqueue-n` call on a pipeline made by `scriptedPipeline`. */
export function addEnqueue(pipeline: ScriptedPipeline, call: EnqueueCall): void {
  const keys: string[] = [call.stream, call.queued];
  const { events } = call;
  const argv: Array<string | number | Buffer> = [
    call.clients.length,
    call.requests.length,
    call.idempotencyTtlMs,
    events?.domain ?? '',
    events?.maxPerClient ?? 0,
    events?.minId ?? '0-0',
    events?.ttlMs ?? 0,
    call.entryFormat === 'fields' ? 'fields' : 'packed',
  ];
  for (const c of call.clients) {
    keys.push(c.limitsKey);
    argv.push(c.clientId, c.clientName, c.rateLimit, c.rateWindowMs, c.dailyQuota);
  }
  if (events) {
    for (const c of call.clients) {
      if (c.eventsKey === undefined) throw new Error('enqueue-n: a client without its events key');
      keys.push(c.eventsKey);
    }
  }
  const recordsAfter = keys.length;
  for (const r of call.requests) {
    let record = 0;
    if (r.recordKey !== null) {
      keys.push(r.recordKey);
      record = keys.length - recordsAfter;
    }
    argv.push(r.client + 1, record, r.requestHash, r.trackingId, r.timestamp, r.messages.length);
    if (call.entryFormat === 'fields') {
      for (const m of r.messages)
        argv.push(m.m, m.be, m.se, m.h, m.p, m.sm, m.md, m.q, m.rt ?? '', m.tg ?? '', m.rm ?? '');
      continue;
    }
    const client = call.clients[r.client]!;
    const c = String(client.clientId);
    for (const m of r.messages) {
      const rt = m.rt ?? '';
      const tg = m.tg ?? '';
      // The queued index's value (enqueue-n.lua's KEYS[2]), made here rather than in Lua.
      const queued = tg === '' ? `${c}|${m.q}` : `${c}|${m.q}|${tg}|${rt}`;
      const entry = packEntry({ ...m, c, n: client.clientName, rt, tg, rm: m.rm ?? '' });
      argv.push(m.m, m.q, queued, entry);
    }
  }
  pipeline.mbEnqueue(keys.length, ...keys, ...argv);
}

export function parseEnqueueReply(reply: unknown, call: Pick<EnqueueCall, 'clients' | 'requests'>): EnqueueReply {
  if (!Array.isArray(reply)) throw new Error('enqueue-n gave an unexpected reply');
  const values = reply as unknown[];
  let at = 0;
  const next = () => values[at++];
  const dayEnd = Number(next());
  const clients = call.clients.map(() => ({
    rateUsedBefore: Number(next()),
    rateResetMs: Number(next()),
    quotaUsedBefore: Number(next()),
  }));
  const requests = call.requests.map((): RequestReply => {
    const kind = next();
    if (kind === 'replay') return { kind, record: String(next()) };
    if (kind === 'reused') return { kind };
    const count = Number(next());
    return { kind: 'done', positions: Array.from({ length: count }, () => Number(next())) };
  });
  return { dayEnd, clients, requests };
}
