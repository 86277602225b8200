/**
 * The main thread's fan-out of status events to this broker's subscribers (WebSockets of
 * clients, live portal pages), whichever broker published them:
 *
 *   ingest / delivery actors (any broker) ──XADD──▶ <prefix>events:client:<id> (Redis)
 *                                                     │ XREAD BLOCK, one connection,
 *                                                     ▼ every client with a subscriber here
 *                                       EventHub ──▶ subscribers of that client (filter, send)
 *
 * A subscriber starts at the client's newest event, or after its `last_event_id` (resume):
 * it catches up with XRANGE while the reader keeps what arrives meanwhile aside for it,
 * and goes live once both meet, so a reconnect within the retention loses nothing and
 * sees nothing twice.
 */
import type { Redis } from 'ioredis';
import type { Logger } from '../logger.js';
import { latestEventId, readEventsAfter, readNewEvents } from '../queue/status-events.js';
import { compareEventIds, type StatusEvent } from './status-event.js';
import { observePushLag } from './events.metrics.js';

/** What the hub delivers to; the subscriber owns its filter and its socket. */
export interface EventSink {
  /** `clients.id` whose events it receives. */
  client: number;
  /** One event, in order; never an event at or before the one given last. */
  deliver(event: StatusEvent): void;
  /**
   * Runs `deliverAll` (several `deliver` calls: one read's events) with the sink's writes
   * held back and flushed together: on a TLS socket one record and one syscall for the
   * lot instead of one per event, which is most of a busy broker's fan-out CPU.
   */
  batch?(deliverAll: () => void): void;
  /**
   * One read's events, in order, all after the sink's cursor. The hub hands every live sink
   * of a client the same array when none of them had seen any of it (the usual case), so a
   * sink may build what it writes once per array (event-socket.ts).
   */
  deliverBatch?(events: readonly StatusEvent[]): void;
}

interface Subscription {
  sink: EventSink;
  live: boolean;
  /** The last event given to it (or where it starts). */
  cursor: string;
  /** Events the reader saw while it caught up. */
  pending: StatusEvent[];
  closed: boolean;
}

interface ClientFeed {
  /** The last event the reader has seen; undefined until read (the reader skips it till then). */
  cursor: string | undefined;
  ready: Promise<void>;
  subscriptions: Set<Subscription>;
}

export interface EventHubOptions {
  /** Commands (XRANGE, XREVRANGE). */
  redis: Redis;
  /** Only for XREAD BLOCK: a blocked connection runs nothing else. */
  blocking: Redis;
  prefix: string;
  logger: Logger;
  /** How long one read waits; a client subscribed meanwhile is read from the next one. */
  blockMs?: number;
  /**
   * Least time from one read that found events to the next. Under load XREAD returns at once
   * with a few events, and each call names every subscribed client's stream (a thousand
   * clients: 2,000 arguments to build, send and for Redis to look up); waiting a little
   * lets events gather, so there are fewer, fuller reads and fuller corked writes per socket.
   * @defaultValue 10
   */
  minReadIntervalMs?: number;
}

const READ_COUNT = 1000;
const CATCH_UP_COUNT = 500;
const MIN_READ_INTERVAL_MS = 10;

export class EventHub {
  private readonly feeds = new Map<number, ClientFeed>();
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;

  constructor(private readonly options: EventHubOptions) {
    options.blocking.on('error', (error) =>
      options.logger.debug({ err: error.message }, 'redis event reader connection error'),
    );
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    this.options.blocking.disconnect();
    await this.loop;
  }

  /**
   * Starts delivering the client's events to `sink`: those after `lastEventId` first (resume),
   * or from now on. Resolves with the id it starts after once it is live; `unsubscribe`
   * stops it (also while it catches up).
   */
  async subscribe(sink: EventSink, lastEventId?: string): Promise<{ startAfter: string; unsubscribe: () => void }> {
    const { redis, prefix } = this.options;
    let feed = this.feeds.get(sink.client);
    if (!feed) {
      const created: ClientFeed = { cursor: undefined, ready: Promise.resolve(), subscriptions: new Set() };
      created.ready = latestEventId(redis, prefix, sink.client).then((id) => {
        created.cursor = id;
        this.wake?.();
      });
      this.feeds.set(sink.client, (feed = created));
    }
    const subscription: Subscription = { sink, live: false, cursor: lastEventId ?? '', pending: [], closed: false };
    // Known now: events after it reach `pending` (the reader never goes back before it).
    const known = feed.cursor;
    feed.subscriptions.add(subscription);
    const unsubscribe = () => this.unsubscribe(feed, subscription);
    try {
      await feed.ready;
      if (lastEventId === undefined) subscription.cursor = known ?? feed.cursor!;
      else {
        subscription.cursor = await this.resumable(sink.client, lastEventId, feed.cursor ?? '0-0');
        await this.catchUp(subscription);
      }
    } catch (error) {
      unsubscribe();
      throw error;
    }
    const startAfter = subscription.cursor;
    for (const event of subscription.pending.splice(0)) this.give(subscription, event);
    subscription.live = true;
    return { startAfter, unsubscribe };
  }

  /**
   * Where a resume starts: after `lastEventId`, unless no event has that id yet — one from
   * the future, or from a Redis since emptied (a failover, a restore). Every event to come
   * would sort before it and be dropped as already seen, so the socket would stay silent
   * for good: it starts at the newest event instead, and its `subscribed` frame says so.
   * Redis is asked only for an id past the reader's own position (which may lag by a read).
   */
  private async resumable(client: number, lastEventId: string, readerAt: string): Promise<string> {
    if (compareEventIds(lastEventId, readerAt) <= 0) return lastEventId;
    const newest = await latestEventId(this.options.redis, this.options.prefix, client);
    return compareEventIds(lastEventId, newest) > 0 ? newest : lastEventId;
  }

  private async catchUp(subscription: Subscription): Promise<void> {
    const { redis, prefix } = this.options;
    for (;;) {
      const events = await readEventsAfter(
        redis,
        prefix,
        subscription.sink.client,
        subscription.cursor,
        CATCH_UP_COUNT,
      );
      if (subscription.closed) return;
      for (const event of events) this.give(subscription, event);
      if (events.length < CATCH_UP_COUNT) return;
    }
  }

  private give(subscription: Subscription, event: StatusEvent): void {
    if (subscription.closed || compareEventIds(event.event_id, subscription.cursor || '0-0') <= 0) return;
    subscription.cursor = event.event_id;
    subscription.sink.deliver(event);
  }

  /** The events after the subscription's cursor: `events` itself when that is all of them. */
  private after(subscription: Subscription, events: StatusEvent[]): StatusEvent[] {
    const cursor = subscription.cursor || '0-0';
    if (events.length === 0 || compareEventIds(events[0]!.event_id, cursor) > 0) return events;
    return events.filter((event) => compareEventIds(event.event_id, cursor) > 0);
  }

  private unsubscribe(feed: ClientFeed, subscription: Subscription): void {
    subscription.closed = true;
    feed.subscriptions.delete(subscription);
    if (feed.subscriptions.size === 0 && this.feeds.get(subscription.sink.client) === feed)
      this.feeds.delete(subscription.sink.client);
  }

  private async run(): Promise<void> {
    const { blocking, prefix, logger } = this.options;
    let failures = 0;
    while (this.running) {
      const cursors = new Map<number, string>();
      for (const [client, feed] of this.feeds) if (feed.cursor !== undefined) cursors.set(client, feed.cursor);
      if (cursors.size === 0) {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          setTimeout(resolve, 1000).unref();
        });
        this.wake = undefined;
        continue;
      }
      try {
        const startedAt = Date.now();
        const read = await readNewEvents(blocking, prefix, cursors, READ_COUNT, this.options.blockMs ?? 250);
        failures = 0;
        for (const [client, { events, lastId }] of read) {
          this.dispatch(client, events, lastId);
          // Once per event read, not per socket: the same read reaches every socket of its client.
          if (this.feeds.has(client)) observePushLag(events, Date.now());
        }
        const rest = (this.options.minReadIntervalMs ?? MIN_READ_INTERVAL_MS) - (Date.now() - startedAt);
        if (read.size > 0 && rest > 0) await new Promise((r) => setTimeout(r, rest));
      } catch (error) {
        if (!this.running) break;
        failures++;
        if (failures === 1 || failures % 30 === 0)
          logger.warn({ err: (error as Error).message }, 'reading status events failed; retrying');
        await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** failures, 2000)));
      }
    }
  }

  private dispatch(client: number, events: StatusEvent[], lastId: string): void {
    const feed = this.feeds.get(client);
    if (!feed) return;
    feed.cursor = lastId;
    for (const subscription of feed.subscriptions) {
      if (!subscription.live) {
        subscription.pending.push(...events);
        continue;
      }
      if (subscription.sink.deliverBatch) {
        if (subscription.closed) continue;
        const fresh = this.after(subscription, events);
        if (fresh.length > 0) {
          subscription.cursor = fresh[fresh.length - 1]!.event_id;
          subscription.sink.deliverBatch(fresh);
        }
        continue;
      }
      const deliverAll = () => {
        for (const event of events) this.give(subscription, event);
      };
      if (subscription.sink.batch) subscription.sink.batch(deliverAll);
      else deliverAll();
    }
  }
}
