/**
 * The webhook delivery schedule of a domain: due attempts in a sorted set, attempts under
 * way leased in another, dead letters in a stream. Waiting retries live here, in Redis,
 * so they survive restarts and hold no delivery slot.
 */
import type { Redis } from 'ioredis';
import { toStreamFields, type StatusEventInput } from '../events/status-event.js';
import { countPublished } from '../events/events.metrics.js';
import { listedDeadLetters } from './dead-letter-stream.js';
import { clientEventsKey, type DomainKeys } from './keys.js';
import { notConnectedCause } from './redis-connection.js';
import type { BrokerScripts } from './scripts.js';
import type { EventRetention } from './status-events.js';
import type { EntryFormat } from './stream-entry.types.js';

export const DEAD_LETTER_MAXLEN = 100_000;

/** The status events of a settled batch, and where and how they are kept. */
export interface SettleEvents {
  /** The Redis key prefix (clients' event streams). */
  prefix: string;
  retention: EventRetention;
  format: EntryFormat;
  list: readonly StatusEventInput[];
  now?: number;
}

export class DeliverySchedule {
  constructor(
    private readonly redis: Redis,
    private readonly scripts: BrokerScripts,
  ) {}

  /** Schedules first attempts, leaving alone those scheduled already or under way (a replayed batch). */
  async scheduleNew(keys: DomainKeys, ids: string[], dueAt: number): Promise<void> {
    if (ids.length === 0) return;
    await this.scripts.mbScheduleNew(keys.schedule, keys.inflight, dueAt, ...ids);
  }

  /**
   * Leases first attempts that start without going through the schedule (handed over by
   * the store batch that stored them, never seen by any holder before): the same lease a
   * claim gives, so one that outlives a dead holder goes back on the schedule.
   */
  async lease(keys: DomainKeys, ids: readonly string[], leaseUntil: number): Promise<void> {
    if (ids.length === 0) return;
    const args: Array<string | number> = [];
    for (const id of ids) args.push(leaseUntil, id);
    await this.redis.zadd(keys.inflight, ...args);
  }

  /**
   * Which of `ids` are still leased (a purge with `--include-pending` drops the leases of
   * the messages it erases): held first attempts start only while theirs holds.
   */
  async stillLeased(keys: DomainKeys, ids: readonly string[]): Promise<boolean[]> {
    if (ids.length === 0) return [];
    const scores = await this.redis.zmscore(keys.inflight, ...ids);
    return scores.map((score) => score !== null);
  }

  /** Puts leased attempts back on the schedule, due at `dueAt` (held ones a dispatcher gives up). */
  unlease(keys: DomainKeys, ids: readonly string[], dueAt: number): Promise<void> {
    return this.settle(
      keys,
      [],
      ids.map((id) => ({ id, dueAt })),
    );
  }

  claimDue(keys: DomainKeys, now: number, limit: number, leaseMs: number): Promise<string[]> {
    return this.scripts.mbClaimDue(keys.schedule, keys.inflight, now, limit, now + leaseMs);
  }

  /**
   * How many attempts are due now: on the schedule, or leased by a holder that died (the
   * next claim puts those back). Asked only when a domain finds no free delivery slot.
   */
  async countDue(keys: DomainKeys, now: number): Promise<number> {
    const replies =
      (await this.redis.pipeline().zcount(keys.schedule, '-inf', now).zcount(keys.inflight, '-inf', now).exec()) ?? [];
    return replies.reduce((n, [error, count]) => (error ? n : n + Number(count)), 0);
  }

  /**
   * Ends attempts in one script call (`settle-n.lua`, atomic): `retry` go back on the
   * schedule at their due time, the rest leave it, and `events` (their status events) are
   * appended to their clients' streams first, with the bounds of status-events.ts.
   */
  async settle(
    keys: DomainKeys,
    done: readonly string[],
    retry: ReadonlyArray<{ id: string; dueAt: number }>,
    events?: SettleEvents,
  ): Promise<void> {
    if (done.length === 0 && retry.length === 0) return;
    const list = events?.list ?? [];
    // A client's stream is a key of the call once; each event names it by index.
    const clientIndex = new Map<number, number>();
    const clientKeys: string[] = [];
    const eventArgs: Array<string | number> = [];
    for (const event of list) {
      let index = clientIndex.get(event.client);
      if (index === undefined) {
        index = clientKeys.length + 1;
        clientIndex.set(event.client, index);
        clientKeys.push(clientEventsKey(events!.prefix, event.client));
      }
      const fields = toStreamFields(event, events!.format);
      eventArgs.push(index, fields.length, ...fields);
    }
    const retention = events?.retention;
    const args: Array<string | number> = [
      keys.schedule,
      keys.inflight,
      ...clientKeys,
      clientKeys.length,
      retention?.max_per_client ?? 0,
      `${Math.max(0, (events?.now ?? Date.now()) - (retention?.retention_ms ?? 0))}-0`,
      retention?.retention_ms ?? 0,
      retry.length,
      done.length,
    ];
    for (const r of retry) args.push(r.dueAt, r.id);
    args.push(...done, list.length, ...eventArgs);
    await this.scripts.mbSettle(2 + clientKeys.length, ...args);
    // Counted once appended (a failed call leaves the leases to expire: the attempts are made again).
    for (const event of list) countPublished(event.type);
  }

  /** Appends the dead-letter entries; rejects if Redis refused any (a pipeline resolves with each command's error). */
  async deadLetter(
    keys: DomainKeys,
    items: ReadonlyArray<{ message_id: string; attempts: number; last_error: string }>,
  ): Promise<void> {
    if (items.length === 0) return;
    const pipeline = this.redis.pipeline();
    const at = new Date().toISOString();
    for (const item of items) {
      pipeline.xadd(
        keys.dead,
        'MAXLEN',
        '~',
        DEAD_LETTER_MAXLEN,
        '*',
        'm',
        item.message_id,
        'a',
        String(item.attempts),
        'e',
        item.last_error,
        't',
        at,
      );
    }
    const failed = (await pipeline.exec())?.find(([error]) => error);
    if (failed) throw failed[0];
  }

  /**
   * Dead-letters those of `items` that have no entry yet (appended at `sinceMs` or later):
   * failed messages whose settle did not reach Redis. Returns the ids it wrote an entry for.
   */
  async deadLetterMissing(
    keys: DomainKeys,
    items: ReadonlyArray<{ message_id: string; attempts: number; last_error: string }>,
    sinceMs: number,
  ): Promise<string[]> {
    if (items.length === 0) return [];
    const listed = await listedDeadLetters(this.redis, keys.dead, new Set(items.map((i) => i.message_id)), sinceMs);
    const missing = items.filter((i) => !listed.has(i.message_id));
    await this.deadLetter(keys, missing);
    return missing.map((i) => i.message_id);
  }

  /** What a failed command on the schedule's connection really met, when it says only "not connected". */
  notConnectedCause(error: unknown): string | undefined {
    return notConnectedCause(this.redis, error);
  }

  async depth(keys: DomainKeys): Promise<{ scheduled: number; inflight: number; dead: number }> {
    const replies =
      (await this.redis.pipeline().zcard(keys.schedule).zcard(keys.inflight).xlen(keys.dead).exec()) ?? [];
    const at = (i: number) => Number(replies[i]?.[1] ?? 0);
    return { scheduled: at(0), inflight: at(1), dead: at(2) };
  }
}
