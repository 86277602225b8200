/**
 * Runs the retention purge inside the broker, on one broker at a time.
 *
 *   every min(interval, 60 s), on every broker:
 *     <prefix>locks:retention-interval exists?  → purged within this interval: done
 *     SET <prefix>locks:retention <me> NX PX 60 s  (the run's lease, renewed every batch)
 *       held by another → it is purging: done
 *       taken → purge, then SET locks:retention-interval PX retention.interval_ms, release
 *
 * So the purge runs about once per interval across all brokers and never twice at once; a
 * run that fails or whose broker dies sets no interval mark, and the next tick tries again.
 *
 * A reload that changes `retention` takes effect at once: the days at the next tick (read
 * from the config in force at every tick), a shorter interval for the next tick's timer
 * and for the interval mark already set (it is cut down to the new interval).
 */
import type { Redis } from 'ioredis';
import type { LiveConfig } from '../config/live-config.js';
import { describeError } from '../db/database.js';
import type { Logger } from '../logger.js';
import { lockKey } from '../queue/keys.js';
import { RedisLock } from '../queue/redis-lock.js';
import type { RetentionService } from './retention.service.js';

/** A run keeps its lock at least this far ahead while it works. */
const LEASE_MS = 60_000;
const FIRST_RUN_DELAY_MS = 5_000;

export interface RetentionSchedulerOptions {
  redis: Redis;
  service: RetentionService;
  logger: Logger;
  /** Read at every tick: a reload (SIGHUP) may change retention or the domains. */
  config: LiveConfig;
  firstRunDelayMs?: number;
}

export class RetentionScheduler {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private readonly lock: RedisLock;
  private readonly intervalKey: string;
  private unsubscribe: (() => void) | undefined;

  constructor(private readonly options: RetentionSchedulerOptions) {
    const config = options.config.current();
    this.lock = new RedisLock(options.redis, config.redis.key_prefix, 'retention', config.instance_id);
    this.intervalKey = lockKey(config.redis.key_prefix, 'retention-interval');
  }

  start(): void {
    this.schedule(this.options.firstRunDelayMs ?? FIRST_RUN_DELAY_MS);
    this.unsubscribe = this.options.config.subscribe((next, { previous, changed }) => {
      if (!changed.includes('retention') || this.stopped) return;
      const interval = next.retention.interval_ms;
      if (interval >= previous.retention.interval_ms) return;
      // A shorter interval: the next tick comes no later than it says, and a mark set
      // under the old interval lasts no longer than the new one.
      if (!this.running) this.schedule(Math.min(interval, 60_000));
      void this.shortenMark(interval);
    });
  }

  /** Stops scheduling and lets a run in progress finish its batch. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    clearTimeout(this.timer);
    await this.running;
  }

  private schedule(delay: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      void this.tick().finally(() => {
        if (!this.stopped) this.schedule(Math.min(this.options.config.current().retention.interval_ms, 60_000));
      });
    }, delay);
    this.timer.unref();
  }

  private async shortenMark(intervalMs: number): Promise<void> {
    try {
      const left = await this.options.redis.pttl(this.intervalKey);
      if (left > intervalMs) await this.options.redis.pexpire(this.intervalKey, intervalMs);
    } catch (error) {
      this.options.logger.warn({ err: describeError(error) }, 'retention: could not shorten the interval mark');
    }
  }

  /** One attempt: purge if no broker did within the interval. Returns after the run, if any. */
  tick(): Promise<void> {
    return (this.running ??= this.attempt().finally(() => (this.running = undefined)));
  }

  private async attempt(): Promise<void> {
    const config = this.options.config.current();
    if (!config.domains.some((d) => d.retention_days > 0)) return;
    const { logger, redis } = this.options;
    try {
      if (await redis.exists(this.intervalKey)) return;
      if (!(await this.lock.acquire(LEASE_MS))) return;
      try {
        // Checked again under the lease: another broker may have finished just before.
        if (await redis.exists(this.intervalKey)) return;
        // Each batch renews the lease; a lost lease (Redis failover, a pause longer than
        // it) or a shutdown ends the run after the batch in hand.
        let cut = false;
        const keepGoing = async () => {
          if (!cut && (this.stopped || !(await this.lock.extend(LEASE_MS)))) cut = true;
          return !cut;
        };
        const results = await this.options.service.purgeExpired(config, Date.now(), keepGoing);
        // A run cut short leaves no mark: the next tick (on any broker) finishes the job.
        if (!cut) await redis.set(this.intervalKey, config.instance_id, 'PX', config.retention.interval_ms);
        const deleted = results.reduce((n, r) => n + r.deleted, 0);
        if (deleted > 0)
          logger.info({ domains: results.filter((r) => r.deleted > 0) }, 'retention purge deleted expired messages');
      } finally {
        await this.lock.release();
      }
    } catch (error) {
      logger.warn({ err: describeError(error) }, 'retention purge failed; the next tick tries again');
    }
  }
}
