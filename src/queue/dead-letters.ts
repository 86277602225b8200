/**
 * Reading and retrying a domain's dead letters (the stream the webhook dispatcher writes
 * when a message has used its attempts; see `DeliverySchedule.deadLetter`).
 *
 * A retry puts the message id back on the domain's schedule, due now, and removes the
 * dead-letter entry, in one MULTI: the entry never vanishes without the retry being
 * scheduled. The caller first sets the MySQL row back to `queued` (the dispatcher skips
 * ids whose row is not queued) and undoes that if this fails.
 */
import type { Redis } from 'ioredis';
import type { DomainKeys } from './keys.js';

export interface DeadLetter {
  /** Stream entry id (`<ms>-<seq>`). */
  entry_id: string;
  message_id: string;
  attempts: number;
  last_error: string;
  dead_at: string;
}

export interface DeadLetterPage {
  entries: DeadLetter[];
  /** Older entries exist beyond this page. */
  more: boolean;
}

export const STREAM_ID = /^\d{1,20}-\d{1,20}$/;

export class DeadLetters {
  constructor(private readonly redis: Redis) {}

  /** Newest first; `before` (an entry id, exclusive) pages back. */
  async page(keys: DomainKeys, limit: number, before?: string): Promise<DeadLetterPage> {
    const end = before === undefined ? '+' : `(${before}`;
    const raw = (await this.redis.xrevrange(keys.dead, end, '-', 'COUNT', limit + 1)) as Array<[string, string[]]>;
    const entries = raw.map(toDeadLetter);
    return { entries: entries.slice(0, limit), more: entries.length > limit };
  }

  async find(keys: DomainKeys, entryId: string): Promise<DeadLetter | undefined> {
    if (!STREAM_ID.test(entryId)) return undefined;
    const raw = (await this.redis.xrange(keys.dead, entryId, entryId)) as Array<[string, string[]]>;
    return raw[0] ? toDeadLetter(raw[0]) : undefined;
  }

  async count(keys: DomainKeys): Promise<number> {
    return this.redis.xlen(keys.dead);
  }

  /** Schedules one more attempt, due at `dueAt` (ms), and drops the dead-letter entry. */
  async requeue(keys: DomainKeys, entry: Pick<DeadLetter, 'entry_id' | 'message_id'>, dueAt: number): Promise<void> {
    const replies = await this.redis.multi().zadd(keys.schedule, 'NX', dueAt, entry.message_id).xdel(keys.dead, entry.entry_id).exec();
    const failed = replies?.find(([error]) => error);
    if (!replies || failed) throw failed?.[0] ?? new Error('MULTI was discarded');
  }
}

function toDeadLetter([id, fields]: [string, string[]]): DeadLetter {
  const map = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) map.set(fields[i]!, fields[i + 1]!);
  return {
    entry_id: id,
    message_id: map.get('m') ?? '',
    attempts: Number(map.get('a') ?? 0),
    last_error: map.get('e') ?? '',
    dead_at: map.get('t') ?? new Date(Number(id.split('-')[0])).toISOString(),
  };
}
