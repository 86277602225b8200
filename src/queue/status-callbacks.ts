/**
 * The callback side of the status event streams: a consumer group `callbacks` on the
 * event stream of each client that has a callback URL, so that across every broker each
 * event is POSTed by one of them (exactly one consumer reads it), acknowledged once its
 * receiver answered 2xx, re-claimed for a retry when it stays pending (the pending
 * entry's delivery count is its attempt count), and dead-lettered when it runs out.
 */
import type { Redis } from 'ioredis';
import { fromStreamEntry, type StatusEvent } from '../events/status-event.js';
import { callbackClientsKey, callbackDeadLetterKey, clientEventsKey, messageCallbackKey } from './keys.js';

export const CALLBACK_GROUP = 'callbacks';
const DEAD_LETTER_MAXLEN = 100_000;

/**
 * From the stream's start ('0'): a group made again after the stream expired (an idle
 * client) must not skip what was appended meanwhile. A new callback URL therefore also
 * receives the events still kept (events.retention_ms).
 */
export async function ensureCallbackGroup(redis: Redis, prefix: string, client: number): Promise<void> {
  try {
    await redis.xgroup('CREATE', clientEventsKey(prefix, client), CALLBACK_GROUP, '0', 'MKSTREAM');
  } catch (error) {
    if (!String((error as Error).message).includes('BUSYGROUP')) throw error;
  }
}

export interface CallbackEntry {
  client: number;
  event: StatusEvent;
  /** Deliveries so far, this one included (1 for a new entry). */
  attempt: number;
}

/** New events of these clients for this consumer; blocks up to `blockMs` on its own connection. */
export async function readNewCallbacks(
  redis: Redis,
  prefix: string,
  consumer: string,
  clients: readonly number[],
  count: number,
  blockMs: number,
): Promise<CallbackEntry[]> {
  if (clients.length === 0) return [];
  const byKey = new Map(clients.map((c) => [clientEventsKey(prefix, c), c]));
  const reply = (await redis.xreadgroup(
    'GROUP',
    CALLBACK_GROUP,
    consumer,
    'COUNT',
    count,
    'BLOCK',
    blockMs,
    'STREAMS',
    ...byKey.keys(),
    ...clients.map(() => '>'),
  )) as Array<[string, Array<[string, string[] | null]>]> | null;
  const out: CallbackEntry[] = [];
  for (const [key, entries] of reply ?? []) {
    const client = byKey.get(key)!;
    for (const [id, flat] of entries) {
      const event = flat ? fromStreamEntry(id, flat) : undefined;
      // Not an event (malformed, or trimmed while pending): nothing to send.
      if (!event) await redis.xack(key, CALLBACK_GROUP, id);
      else out.push({ client, event, attempt: 1 });
    }
  }
  return out;
}

/**
 * Entries of one client pending longer than `idleMs` (a failed POST, or a broker that
 * died mid-way), claimed for `consumer`. Each comes with its attempt number.
 */
export async function claimOverdue(
  redis: Redis,
  prefix: string,
  consumer: string,
  client: number,
  idleMs: number,
  count: number,
): Promise<CallbackEntry[]> {
  const key = clientEventsKey(prefix, client);
  const pending = (await redis.xpending(key, CALLBACK_GROUP, 'IDLE', idleMs, '-', '+', count)) as Array<
    [string, string, number, number]
  >;
  if (pending.length === 0) return [];
  const deliveries = new Map(pending.map(([id, , , times]) => [id, Number(times)]));
  const claimed = (await redis.xclaim(key, CALLBACK_GROUP, consumer, idleMs, ...deliveries.keys())) as Array<
    [string, string[] | null]
  >;
  const out: CallbackEntry[] = [];
  for (const [id, flat] of claimed) {
    const event = flat ? fromStreamEntry(id, flat) : undefined;
    if (!event) await redis.xack(key, CALLBACK_GROUP, id);
    // XCLAIM counted this delivery too.
    else out.push({ client, event, attempt: (deliveries.get(id) ?? 0) + 1 });
  }
  return out;
}

/**
 * Puts a callback back unsent (its URL's breaker is open): it stays pending, due again
 * after the retry interval (XCLAIM resets its idle time), with its delivery count set back
 * so that this turn spends none of its attempts (JUSTID would not count it anyway).
 */
export async function holdBackCallback(
  redis: Redis,
  prefix: string,
  consumer: string,
  entry: CallbackEntry,
): Promise<void> {
  await redis.xclaim(
    clientEventsKey(prefix, entry.client),
    CALLBACK_GROUP,
    consumer,
    0,
    entry.event.event_id,
    'RETRYCOUNT',
    entry.attempt - 1,
    'JUSTID',
  );
}

export async function acknowledgeCallback(
  redis: Redis,
  prefix: string,
  client: number,
  eventId: string,
): Promise<void> {
  await redis.xack(clientEventsKey(prefix, client), CALLBACK_GROUP, eventId);
}

/** Gives up on a callback: a dead-letter entry, and the event acknowledged in one transaction. */
export async function deadLetterCallback(
  redis: Redis,
  prefix: string,
  entry: CallbackEntry,
  host: string,
  lastError: string,
): Promise<void> {
  await redis
    .multi()
    .xadd(
      callbackDeadLetterKey(prefix),
      'MAXLEN',
      '~',
      DEAD_LETTER_MAXLEN,
      '*',
      'event_id',
      entry.event.event_id,
      'message_id',
      entry.event.message_id,
      'client',
      entry.event.client_id,
      'host',
      host,
      'attempts',
      String(entry.attempt),
      'error',
      lastError.slice(0, 500),
      't',
      new Date().toISOString(),
    )
    .xack(clientEventsKey(prefix, entry.client), CALLBACK_GROUP, entry.event.event_id)
    .exec();
}

/**
 * Remembers messages' own callback URLs (before they are appended: their first event may
 * follow within milliseconds), and that their client now has per-message callbacks.
 */
export async function rememberMessageCallbacks(
  redis: Redis,
  prefix: string,
  retentionMs: number,
  client: number,
  urls: ReadonlyArray<{ message_id: string; url: string }>,
): Promise<void> {
  if (urls.length === 0) return;
  const pipeline = redis.pipeline();
  for (const { message_id, url } of urls) pipeline.set(messageCallbackKey(prefix, message_id), url, 'PX', retentionMs);
  pipeline.zadd(callbackClientsKey(prefix), 'GT', Date.now() + retentionMs, String(client));
  const replies = (await pipeline.exec()) ?? [];
  const failed = replies.find(([error]) => error);
  if (failed) throw failed[0];
}

/** Clients with per-message callbacks still within the retention (the expired ones are dropped). */
export async function clientsWithMessageCallbacks(redis: Redis, prefix: string): Promise<number[]> {
  const key = callbackClientsKey(prefix);
  const now = Date.now();
  await redis.zremrangebyscore(key, '-inf', now);
  return (await redis.zrangebyscore(key, now, '+inf')).map(Number);
}

/** A message's own callback URL, or undefined. */
export async function messageCallbackUrl(redis: Redis, prefix: string, messageId: string): Promise<string | undefined> {
  return (await redis.get(messageCallbackKey(prefix, messageId))) ?? undefined;
}
