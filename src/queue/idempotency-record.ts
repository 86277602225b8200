/**
 * What an Idempotency-Key remembers: "<request hash>\n<json>". Two writers, one format:
 *
 *   enqueue-n.lua   {t, ts, i}  when the request appended messages: per message
 *                               [message_id, queued_at, position] or [-1|-2] (refused)
 *   the front       {s, b}      when the request was refused by validation: the response
 *                               itself (status and body), via `rememberResponse`
 *
 * The hash comes first so the script compares it without decoding JSON.
 */
import type { Redis } from 'ioredis';
import { REFUSED_BY_QUOTA } from './stream-writer.js';

export type ItemOutcome =
  | { ok: true; message_id: string; queued_at: string; position: number }
  | { ok: false; code: 'TOO_MANY_REQUESTS' | 'QUOTA_EXCEEDED' };

export type IdempotencyRecord = { hash: string } & (
  | { kind: 'response'; status: number; body: unknown }
  | { kind: 'outcomes'; tracking_id: string; timestamp: string; items: ItemOutcome[] }
);

export function parseIdempotencyRecord(text: string): IdempotencyRecord {
  const cut = text.indexOf('\n');
  const hash = text.slice(0, cut);
  const json = JSON.parse(text.slice(cut + 1)) as { s?: number; b?: unknown; t?: string; ts?: string; i?: unknown };
  if (json.s !== undefined) return { hash, kind: 'response', status: json.s, body: json.b };
  // cjson writes an empty Lua table as {}: no items.
  const raw = Array.isArray(json.i) ? (json.i as Array<[string, string, number] | [number]>) : [];
  return { hash, kind: 'outcomes', tracking_id: json.t ?? '', timestamp: json.ts ?? '', items: raw.map(toOutcome) };
}

function toOutcome(entry: [string, string, number] | [number]): ItemOutcome {
  if (entry.length === 3) return { ok: true, message_id: entry[0], queued_at: entry[1], position: entry[2] };
  return { ok: false, code: entry[0] === REFUSED_BY_QUOTA ? 'QUOTA_EXCEEDED' : 'TOO_MANY_REQUESTS' };
}

/**
 * Remembers a response under the key unless the key already holds a record (SET NX GET,
 * Redis ≥ 7.0): returns that earlier record, or null when this response is now the one.
 */
export async function rememberResponse(
  redis: Redis,
  key: string,
  hash: string,
  response: { status: number; body: unknown },
  ttlMs: number,
): Promise<IdempotencyRecord | null> {
  const value = `${hash}\n${JSON.stringify({ s: response.status, b: response.body })}`;
  const previous = (await redis.call('SET', key, value, 'PX', ttlMs, 'NX', 'GET')) as string | null;
  return previous === null ? null : parseIdempotencyRecord(previous);
}
