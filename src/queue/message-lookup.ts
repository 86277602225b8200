/**
 * The Redis half of a status lookup, in one round trip: count the request against the
 * client's rate limit (`rate-take-1.lua`) and read the message's entry in the domain's
 * queued index — present from the XADD until delivery has stored the message in MySQL.
 */
import type { Redis } from 'ioredis';
import { script } from './scripts.js';

export interface RateTake {
  allowed: boolean;
  used: number;
  resetMs: number;
}

export interface QueuedEntry {
  client_id: number;
  queued_at: string;
}

type RateTakeCommander = { mbRateTake(...args: Array<string | number>): unknown };

/** Makes `rate-take-1` available on a connection and its pipelines (once per connection). */
function ensureRateTake(redis: Redis): void {
  if (!('mbRateTake' in redis)) redis.defineCommand('mbRateTake', { numberOfKeys: 1, lua: script('rate-take-1') });
}

export async function takeRateAndFindQueued(
  redis: Redis,
  request: { limitsKey: string; limit: number; windowMs: number; queuedKey: string; messageId: string },
): Promise<{ rate: RateTake | null; queued: QueuedEntry | null }> {
  ensureRateTake(redis);
  const pipeline = redis.pipeline();
  // A limit of 0 means none: nothing to count.
  if (request.limit > 0)
    (pipeline as unknown as RateTakeCommander).mbRateTake(request.limitsKey, request.limit, request.windowMs);
  pipeline.hget(request.queuedKey, request.messageId);
  const replies = (await pipeline.exec()) ?? [];
  for (const [error] of replies) if (error) throw error;
  const values = replies.map(([, value]) => value);
  const rate = request.limit > 0 ? toRateTake(values.shift()) : null;
  const entry = values.shift();
  return { rate, queued: typeof entry === 'string' ? toQueuedEntry(entry) : null };
}

function toRateTake(reply: unknown): RateTake {
  const [allowed, used, resetMs] = (reply as unknown[]).map(Number);
  return { allowed: allowed === 1, used: used!, resetMs: resetMs! };
}

function toQueuedEntry(value: string): QueuedEntry {
  const cut = value.indexOf('|');
  return { client_id: Number(value.slice(0, cut)), queued_at: value.slice(cut + 1) };
}
