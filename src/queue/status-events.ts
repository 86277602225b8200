/**
 * Status events in Redis: one stream per client (`<prefix>events:client:<id>`), so that
 * any broker can serve any subscriber (fan-out: every broker reads the streams of the
 * clients it has subscribers for) and a subscriber that reconnects resumes after its
 * `last_event_id` (the stream id), within the retention window.
 *
 * Publishers add their events to a pipeline they send anyway, once per batch: no round
 * trip per message. Bounds, per client and batch (not per event: the same bound, overshot
 * by at most one batch's events until the batch's trim): one XTRIM MAXLEN ~ max_per_client,
 * one XTRIM MINID ~ (now − retention) and one PEXPIRE (a client that stops sending leaves
 * no stream behind). The store path writes its `stored`/`delivered` events
 * inside its acknowledgement script instead (src/queue/store-ack.ts), and a webhook or
 * amqp target its attempts' outcomes inside its settle script (src/queue/schedule.ts),
 * with the same bounds.
 */
import type { ChainableCommander, Redis } from 'ioredis';
import { fromStreamEntry, toStreamFields, type StatusEvent, type StatusEventInput } from '../events/status-event.js';
import { countPublished } from '../events/events.metrics.js';
import { clientEventsKey } from './keys.js';
import type { EntryFormat } from './stream-entry.types.js';

export interface EventRetention {
  retention_ms: number;
  max_per_client: number;
}

/** Queues the events on `pipeline` (sent by the caller with its own writes), in `format` (`queue.entry_format`). */
export function addStatusEvents(
  pipeline: ChainableCommander,
  prefix: string,
  retention: EventRetention,
  events: readonly StatusEventInput[],
  { format = 'packed', now = Date.now() }: { format?: EntryFormat; now?: number } = {},
): void {
  if (events.length === 0) return;
  const keys = new Set<string>();
  for (const event of events) {
    const key = clientEventsKey(prefix, event.client);
    keys.add(key);
    pipeline.xadd(key, '*', ...toStreamFields(event, format));
    // Counted when queued on the pipeline: a pipeline that fails fails the caller's batch too.
    countPublished(event.type);
  }
  const oldest = `${Math.max(0, now - retention.retention_ms)}-0`;
  for (const key of keys) {
    pipeline.xtrim(key, 'MAXLEN', '~', retention.max_per_client);
    pipeline.xtrim(key, 'MINID', '~', oldest);
    pipeline.pexpire(key, retention.retention_ms);
  }
}

/** Sends the events in a pipeline of their own (for a publisher with no write of its own to join). */
export async function publishStatusEvents(
  redis: Redis,
  prefix: string,
  retention: EventRetention,
  events: readonly StatusEventInput[],
  format: EntryFormat = 'packed',
): Promise<void> {
  if (events.length === 0) return;
  const pipeline = redis.pipeline();
  addStatusEvents(pipeline, prefix, retention, events, { format });
  const replies = (await pipeline.exec()) ?? [];
  const failed = replies.find(([error]) => error);
  if (failed) throw failed[0];
}

/** The id of the client's newest event, or `0-0` without any: where a new subscriber starts. */
export async function latestEventId(redis: Redis, prefix: string, client: number): Promise<string> {
  const reply = (await redis.xrevrange(clientEventsKey(prefix, client), '+', '-', 'COUNT', 1)) as Array<
    [string, string[]]
  >;
  return reply[0]?.[0] ?? '0-0';
}

/** Events of one client after `afterId` (exclusive), oldest first. */
export async function readEventsAfter(
  redis: Redis,
  prefix: string,
  client: number,
  afterId: string,
  count: number,
): Promise<StatusEvent[]> {
  const reply = (await redis.xrange(clientEventsKey(prefix, client), `(${afterId}`, '+', 'COUNT', count)) as Array<
    [string, string[]]
  >;
  return toEvents(reply);
}

/**
 * New events of several clients after each one's cursor, waiting up to `blockMs` when
 * there are none (a connection of its own: XREAD BLOCK holds it). Per client, oldest
 * first, with the id of the last entry read (the next cursor, past any malformed entry).
 */
export async function readNewEvents(
  redis: Redis,
  prefix: string,
  cursors: ReadonlyMap<number, string>,
  count: number,
  blockMs: number,
): Promise<Map<number, { events: StatusEvent[]; lastId: string }>> {
  const clients = [...cursors.keys()];
  const out = new Map<number, { events: StatusEvent[]; lastId: string }>();
  if (clients.length === 0) return out;
  const byKey = new Map(clients.map((c) => [clientEventsKey(prefix, c), c]));
  const reply = (await redis.xread(
    'COUNT',
    count,
    'BLOCK',
    blockMs,
    'STREAMS',
    ...byKey.keys(),
    ...clients.map((c) => cursors.get(c)!),
  )) as Array<[string, Array<[string, string[]]>]> | null;
  for (const [key, entries] of reply ?? []) {
    const client = byKey.get(key);
    if (client !== undefined && entries.length > 0)
      out.set(client, { events: toEvents(entries), lastId: entries.at(-1)![0] });
  }
  return out;
}

function toEvents(entries: Array<[string, string[]]>): StatusEvent[] {
  const events: StatusEvent[] = [];
  for (const [id, flat] of entries) {
    const event = fromStreamEntry(id, flat);
    if (event) events.push(event);
  }
  return events;
}
