/**
 * The end of a stored batch in Redis, in one script call (`store-ack-n.lua`): the stream
 * entries acknowledged and deleted, the messages dropped from their domain's queued index,
 * and the status events of the rows new in MySQL — `stored`, and `delivered` for a store
 * target — appended to their clients' event streams with the bounds of
 * src/queue/status-events.ts (XTRIM MAXLEN ~ and MINID ~ and PEXPIRE once per client).
 *
 * Why a script and not a pipeline: a batch of 100 store-target messages was ≈ 205
 * commands (200 XADDs), each an ioredis command object, a promise, a timer and a parsed
 * reply in the delivery actor; now it is one command with three short arguments per
 * message (docs/performance-history.md, "The store path: one script …").
 */
import type { Redis } from 'ioredis';
import { countPublished } from '../events/events.metrics.js';
import { DELIVERY_GROUP, clientEventsKey } from './keys.js';
import { defineScripts } from './scripts.js';
import type { EventRetention } from './status-events.js';
import type { EntryFormat } from './stream-entry.types.js';
import type { StreamEntry } from './stream-reader.js';

/** A row new in MySQL, whose events the acknowledgement appends. */
export interface StoredMessage {
  message_id: string;
  /** `clients.id`: names the client's event stream. */
  client: number;
  /** `name.domain`, the certificate's CN. */
  client_id: string;
  domain: string;
  /** A store target's message: being stored is its delivery (a `delivered` event follows `stored`). */
  delivered: boolean;
}

export interface StoreAck {
  prefix: string;
  retention: EventRetention;
  /** Each stream's queued index. */
  queuedIndexOf(stream: string): string;
  /** The stored batch's entries (deleted or malformed ones included: they are acknowledged too). */
  entries: ReadonlyArray<Pick<StreamEntry, 'stream' | 'id'> & { fields?: { m: string } | null }>;
  /** Rows the batch added to MySQL (not those a replay found stored): their events. */
  stored: readonly StoredMessage[];
  /** The events' time (ISO). */
  at: string;
  /** The events' entry form (`queue.entry_format`); default packed. */
  format?: EntryFormat;
  now?: number;
}

export async function acknowledgeStored(redis: Redis, ack: StoreAck): Promise<void> {
  if (ack.entries.length === 0 && ack.stored.length === 0) return;
  const byStream = new Map<string, { ids: string[]; messageIds: string[] }>();
  for (const { stream, id, fields } of ack.entries) {
    let group = byStream.get(stream);
    if (!group) byStream.set(stream, (group = { ids: [], messageIds: [] }));
    group.ids.push(id);
    if (fields) group.messageIds.push(fields.m);
  }
  // A client's CN and domain go once per batch; each event names its client by index.
  const clientIndex = new Map<string, number>();
  const clientKeys: string[] = [];
  const clientArgs: string[] = [];
  const eventArgs: Array<string | number> = [];
  let delivered = 0;
  for (const message of ack.stored) {
    const lane = `${message.client}\n${message.client_id}\n${message.domain}`;
    let index = clientIndex.get(lane);
    if (index === undefined) {
      index = clientKeys.length + 1;
      clientIndex.set(lane, index);
      clientKeys.push(clientEventsKey(ack.prefix, message.client));
      clientArgs.push(message.client_id, message.domain);
    }
    eventArgs.push(index, message.message_id, message.delivered ? 1 : 0);
    if (message.delivered) delivered++;
  }
  const streams = [...byStream.keys()];
  const args: Array<string | number> = [
    ...streams,
    ...streams.map((stream) => ack.queuedIndexOf(stream)),
    ...clientKeys,
    DELIVERY_GROUP,
    streams.length,
    clientKeys.length,
    ack.retention.max_per_client,
    `${Math.max(0, (ack.now ?? Date.now()) - ack.retention.retention_ms)}-0`,
    ack.retention.retention_ms,
    ack.at,
    ack.format ?? 'packed',
  ];
  for (const { ids, messageIds } of byStream.values()) args.push(ids.length, messageIds.length, ...ids, ...messageIds);
  args.push(...clientArgs, ack.stored.length, ...eventArgs);
  await defineScripts(redis).mbStoreAck(2 * streams.length + clientKeys.length, ...args);
  // Counted once appended (a failed call fails the batch, whose replay adds no events).
  countPublished('stored', ack.stored.length);
  countPublished('delivered', delivered);
}
