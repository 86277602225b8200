/**
 * Status events give way to messages. While Redis is at the broker's memory limit (submits
 * refused as QUEUE_FULL), the clients' event streams are trimmed to a window that starts at
 * half of `events.retention_ms` and halves every second, down to nothing; once memory is
 * below the limit again, events are kept for their full retention.
 *
 * Why: storing a backlog after an outage deletes each message's stream entry but appends
 * its `stored` and `delivered` events. Kept for an hour, those events could hold Redis at
 * the limit after the backlog was stored, and submits would stay refused until they
 * expired. Events are a bounded, best-effort record; accepted messages are the promise.
 * What is trimmed is counted (`mb_events_trimmed_for_memory_total`) and logged: a
 * subscriber resuming from a trimmed `last_event_id`, or a callback still pending, misses
 * those events.
 */
import { Cluster, type Redis } from 'ioredis';
import { countTrimmedForMemory } from '../events/events.metrics.js';
import type { Logger } from '../logger.js';
import { clientEventsPattern } from './keys.js';

const STEP_MS = 1000;
/** Below this the window is nothing: every event is trimmed. */
const SMALLEST_WINDOW_MS = 1000;

export class EventPressure {
  /** The window kept while under pressure; undefined while there is none. */
  private windowMs: number | undefined;
  private steppedAt = 0;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly retentionMs: number,
    private readonly logger: Logger,
  ) {}

  /** Called at each memory check: trims while `full`, restores full retention once not. Returns events trimmed. */
  async relieve(full: boolean, now = Date.now()): Promise<number> {
    if (!full) {
      if (this.windowMs !== undefined)
        this.logger.info('Redis memory below the limit: status events are kept for their full retention again');
      this.windowMs = undefined;
      return 0;
    }
    if (this.windowMs === undefined) this.windowMs = Math.floor(this.retentionMs / 2);
    else if (now - this.steppedAt < STEP_MS) return 0;
    else if (this.windowMs > 0)
      this.windowMs = this.windowMs / 2 < SMALLEST_WINDOW_MS ? 0 : Math.floor(this.windowMs / 2);
    // One pass a second at most (a SCAN of the keyspace), though checks come every 100 ms
    // near the limit; it also trims what was appended since, such as a drain's events.
    this.steppedAt = now;
    const trimmed = await this.trimOlderThan(now - this.windowMs);
    if (trimmed > 0) {
      countTrimmedForMemory(trimmed);
      this.logger.warn(
        { trimmed, kept_ms: this.windowMs },
        "Redis at the broker's memory limit: status events trimmed to make room for messages",
      );
    }
    return trimmed;
  }

  /** Exact MINID trims of every client's events stream, on every master of a cluster. */
  private async trimOlderThan(since: number): Promise<number> {
    const minId = `${Math.max(0, since)}-0`;
    // A cluster client is typed as Redis (redis-connection.ts): SCAN reaches one node only.
    const client = this.redis as unknown;
    const nodes = client instanceof Cluster ? client.nodes('master') : [this.redis];
    let trimmed = 0;
    for (const node of nodes) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', clientEventsPattern(this.prefix), 'COUNT', 1000);
        cursor = next;
        if (keys.length === 0) continue;
        const pipeline = node.pipeline();
        for (const key of keys) pipeline.xtrim(key, 'MINID', minId);
        for (const [error, count] of (await pipeline.exec()) ?? []) if (!error) trimmed += Number(count);
      } while (cursor !== '0');
    }
    return trimmed;
  }
}
