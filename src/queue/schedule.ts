/**
 * The webhook delivery schedule of a domain: due attempts in a sorted set, attempts under
 * way leased in another, dead letters in a stream. Waiting retries live here, in Redis,
 * so they survive restarts and hold no delivery slot.
 */
import type { ChainableCommander, Redis } from 'ioredis';
import type { DomainKeys } from './keys.js';
import type { BrokerScripts } from './scripts.js';

export const DEAD_LETTER_MAXLEN = 100_000;

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
   * Ends attempts: `retry` go back on the schedule at their due time, the rest leave it.
   * `alongside` adds the caller's writes to the same transaction (the status events).
   */
  async settle(
    keys: DomainKeys,
    done: string[],
    retry: Array<{ id: string; dueAt: number }>,
    alongside: (multi: ChainableCommander) => void = () => undefined,
  ): Promise<void> {
    if (done.length === 0 && retry.length === 0) return;
    const multi = this.redis.multi();
    alongside(multi);
    if (retry.length > 0) {
      const args: Array<string | number> = [];
      for (const r of retry) args.push(r.dueAt, r.id);
      multi.zadd(keys.schedule, ...args);
    }
    const leaving = [...done, ...retry.map((r) => r.id)];
    if (leaving.length > 0) multi.zrem(keys.inflight, ...leaving);
    await multi.exec();
  }

  async deadLetter(
    keys: DomainKeys,
    items: Array<{ message_id: string; attempts: number; last_error: string }>,
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
    await pipeline.exec();
  }

  async depth(keys: DomainKeys): Promise<{ scheduled: number; inflight: number; dead: number }> {
    const replies =
      (await this.redis.pipeline().zcard(keys.schedule).zcard(keys.inflight).xlen(keys.dead).exec()) ?? [];
    const at = (i: number) => Number(replies[i]?.[1] ?? 0);
    return { scheduled: at(0), inflight: at(1), dead: at(2) };
  }
}
