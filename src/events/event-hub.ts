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
import { clientEventsKey } from '../queue/keys.js';
import { latestEventId, readEventsAfter, readStreams } from '../queue/status-events.js';
import { compareEventIds, type StatusEvent } from './status-event.js';

/** What the hub delivers to; the subscriber owns its filter and its socket. */
export interface EventSink {
  /** `clients.id` whose events it receives. */
  client: number;
  /** One event, in order; never an event at or before the one given last. */
  deliver(event: StatusEvent): void;
  /**
   * One read's events of the client, in order, all after the last one given (the same batch
   * for every sink of the client): a WebSocket writes them corked, one TLS record and one
   * syscall for the lot instead of one per event. Without it, `deliver` each.
   */
  deliverBatch?(batch: EventBatch): void;
}

/** One read's events of a client, as the hub hands them to each of its sinks. */
export interface EventBatch {
  readonly events: readonly StatusEvent[];
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
  client: number;
  /** The client's stream key (built once, named in every read). */
  key: string;
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
   * Longest wait from one read that found events to the next, taken when the main thread is
   * fully busy; the wait is this times the square of the thread's event-loop utilisation
   * since the previous read (busy 30 %: 9 % of it; idle: none). Under load XREAD returns at
   * once with a few events, each call names every subscribed client's stream (a thousand
   * clients: 2,000 arguments to build, send and for Redis to look up), and each read costs
   * every socket of a client with events one write: waiting lets events gather into fewer,
   * fuller reads and writes exactly when the CPU is short, and adds nothing when it is not.
   * @defaultValue 10
   */
  maxReadIntervalMs?: number;
}

const READ_COUNT = 1000;
const CATCH_UP_COUNT = 500;
const MAX_READ_INTERVAL_MS = 10;

/** The wait before the next read, from the event-loop utilisation (0–1) since the last one. */
export function readInterval(utilization: number, maxMs: number): number {
  const u = Math.min(1, Math.max(0, utilization));
  return Math.round(maxMs * u * u);
}

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

  get subscribers(): number {
    let n = 0;
    for (const feed of this.feeds.values()) n += feed.subscriptions.size;
    return n;
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
      const created: ClientFeed = {
        client: sink.client,
        key: clientEventsKey(prefix, sink.client),
        cursor: undefined,
        ready: Promise.resolve(),
        subscriptions: new Set(),
      };
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
      else await this.catchUp(subscription);
    } catch (error) {
      unsubscribe();
      throw error;
    }
    const startAfter = subscription.cursor;
    for (const event of subscription.pending.splice(0)) this.give(subscription, event);
    subscription.live = true;
    return { startAfter, unsubscribe };
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

  private unsubscribe(feed: ClientFeed, subscription: Subscription): void {
    subscription.closed = true;
    feed.subscriptions.delete(subscription);
    if (feed.subscriptions.size === 0 && this.feeds.get(subscription.sink.client) === feed)
      this.feeds.delete(subscription.sink.client);
  }

  private async run(): Promise<void> {
    const { blocking, logger } = this.options;
    const maxIntervalMs = this.options.maxReadIntervalMs ?? MAX_READ_INTERVAL_MS;
    let failures = 0;
    let utilization = performance.eventLoopUtilization();
    const keys: string[] = [];
    const ids: string[] = [];
    const feeds: ClientFeed[] = [];
    while (this.running) {
      keys.length = ids.length = feeds.length = 0;
      for (const feed of this.feeds.values())
        if (feed.cursor !== undefined) {
          keys.push(feed.key);
          ids.push(feed.cursor);
          feeds.push(feed);
        }
      if (feeds.length === 0) {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          setTimeout(resolve, 1000).unref();
        });
        this.wake = undefined;
        continue;
      }
      try {
        const read = await readStreams(blocking, keys, ids, READ_COUNT, this.options.blockMs ?? 250);
        failures = 0;
        for (let i = 0; i < read.length; i++) {
          const entries = read[i];
          if (entries) this.dispatch(feeds[i]!, entries.events, entries.lastId);
        }
        const now = performance.eventLoopUtilization();
        const wait = readInterval(performance.eventLoopUtilization(now, utilization).utilization, maxIntervalMs);
        utilization = now;
        if (read.found > 0 && wait > 0) await new Promise((r) => setTimeout(r, wait));
      } catch (error) {
        if (!this.running) break;
        failures++;
        if (failures === 1 || failures % 30 === 0)
          logger.warn({ err: (error as Error).message }, 'reading status events failed; retrying');
        await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** failures, 2000)));
      }
    }
  }

  private dispatch(feed: ClientFeed, events: StatusEvent[], lastId: string): void {
    // Unsubscribed (and maybe subscribed again: a new feed) while the read was out.
    if (this.feeds.get(feed.client) !== feed) return;
    feed.cursor = lastId;
    if (events.length === 0) return;
    const first = events[0]!.event_id;
    const last = events.at(-1)!.event_id;
    const batch: EventBatch = { events };
    for (const subscription of feed.subscriptions) {
      if (!subscription.live) {
        subscription.pending.push(...events);
        continue;
      }
      // Live: the reader's events follow its cursor, unless it just caught up past some.
      if (subscription.closed || compareEventIds(first, subscription.cursor || '0-0') <= 0) {
        for (const event of events) this.give(subscription, event);
        continue;
      }
      subscription.cursor = last;
      const sink = subscription.sink;
      if (sink.deliverBatch) sink.deliverBatch(batch);
      else for (const event of events) sink.deliver(event);
    }
  }
}
