/**
 * The Redis half of a status lookup, in one round trip: count the request against the
 * client's rate limit (`rate-take-1.lua`) and read the message's entry in the domain's
 * queued index — present from the XADD until delivery has stored the message in MySQL.
 */
import type { Redis } from 'ioredis';
import { scriptedPipeline } from './scripts.js';

export interface RateTake {
  allowed: boolean;
  used: number;
  resetMs: number;
}

export interface QueuedEntry {
  client_id: number;
  queued_at: string;
  /** Absent when the entry names no target (written before routing): the domain's default. */
  target?: string;
  route?: string;
}

export async function takeRateAndFindQueued(
  redis: Redis,
  request: { limitsKey: string; limit: number; windowMs: number; queuedKey: string; messageId: string },
): Promise<{ rate: RateTake | null; queued: QueuedEntry | null }> {
  const pipeline = scriptedPipeline(redis);
  // A limit of 0 means none: nothing to count.
  if (request.limit > 0) pipeline.mbRateTake(request.limitsKey, request.limit, request.windowMs);
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

/** "client_id|queued_at|target|route"; written before routing, "client_id|queued_at". */
function toQueuedEntry(value: string): QueuedEntry {
  const [clientId, queuedAt, target, route] = value.split('|');
  const entry: QueuedEntry = { client_id: Number(clientId), queued_at: queuedAt ?? '' };
  if (target) entry.target = target;
  if (route) entry.route = route;
  return entry;
}
