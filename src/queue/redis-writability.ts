/**
 * Can Redis keep what a 202 promises right now? Read from `INFO` every second (one cheap
 * command; every 100 ms past 80 % of the broker's memory limit), so the broker stops answering 202 — and `/readyz` says not ready, so a load
 * balancer sends elsewhere — within a second of Redis reporting that it cannot:
 *
 *   aof_last_write_status:err            a failed AOF write (disk full, I/O error)
 *   maxmemory_policy other than noeviction   Redis may evict a stream key: queued
 *                                        messages would vanish without an error
 *   used_memory ≥ maxmemory              out of memory: Redis refuses writes (OOM)
 *   role:slave                           a read-only replica (a failover not followed)
 *   fewer replicas online than           no batch could be confirmed (replica-wait.ts)
 *   queue.replicas
 *
 * Apart from those, the broker's own limit on Redis memory (`redis.max_backlog_bytes`, or
 * `redis.max_memory_percent` of `maxmemory`): past it submits are 503 QUEUE_FULL while
 * Redis still has room for what delivery must write to drain the backlog (XACK, XDEL,
 * the retry schedule) — a Redis that is out of memory refuses those too.
 *
 * With `redis.manage_persistence` an evicting policy is corrected (`CONFIG SET
 * maxmemory-policy noeviction`) instead, as AOF is at start (durability.ts). Redis itself
 * refuses writes in most of these states too; the watch makes the refusal the broker's,
 * with a reason, before a write is tried and for the probes.
 */
import type { Redis } from 'ioredis';
import type { Logger } from '../logger.js';
import { replicaShortfall } from './replica-wait.js';

/** What stops Redis from keeping a message, one line each; empty when nothing does. */
export function writeProblems(info: string): string[] {
  const field = (name: string) => new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim();
  const problems: string[] = [];
  if (field('aof_enabled') === '1' && field('aof_last_write_status') === 'err')
    problems.push('Redis reports a failed AOF write (aof_last_write_status:err)');
  const policy = field('maxmemory_policy');
  if (policy !== undefined && policy !== 'noeviction')
    problems.push(`Redis may evict keys (maxmemory-policy ${policy}): queued messages could be lost`);
  const max = Number(field('maxmemory') ?? 0);
  const used = Number(field('used_memory') ?? 0);
  if (max > 0 && used >= max) problems.push(`Redis is out of memory (used_memory ${used} ≥ maxmemory ${max})`);
  if (field('role') === 'slave') problems.push('Redis is a read-only replica (role:slave)');
  return problems;
}

/** The broker's own limit on Redis memory (config `redis.max_backlog_bytes`, `redis.max_memory_percent`). */
export interface BacklogLimits {
  maxBacklogBytes: number;
  maxMemoryPercent: number;
}

/** Redis memory as last read, and the used_memory at which submits are refused (0 = no limit). */
export interface RedisMemory {
  used: number;
  maxmemory: number;
  limit: number;
}

export function redisMemory(info: string, limits: BacklogLimits): RedisMemory {
  const field = (name: string) => Number(new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim() ?? 0);
  const used = field('used_memory');
  const maxmemory = field('maxmemory');
  const candidates = [
    ...(limits.maxBacklogBytes > 0 ? [limits.maxBacklogBytes] : []),
    ...(maxmemory > 0 ? [Math.max(1, Math.floor((maxmemory * limits.maxMemoryPercent) / 100))] : []),
  ];
  return { used, maxmemory, limit: candidates.length > 0 ? Math.min(...candidates) : 0 };
}

/** Past this share of the limit the watch checks ten times as often. */
const NEAR_LIMIT = 0.8;

/** Once full, submits resume only below this share of the limit: no flapping at the edge. */
const RESUME_BELOW = 0.95;

/** Why submits are refused as QUEUE_FULL, or undefined while there is headroom. */
export function backlogFull(memory: RedisMemory, wasFull = false): string | undefined {
  if (memory.limit <= 0) return undefined;
  if (memory.used < (wasFull ? memory.limit * RESUME_BELOW : memory.limit)) return undefined;
  return `Redis holds ${memory.used} bytes, the broker's limit is ${memory.limit} (redis.max_backlog_bytes / redis.max_memory_percent of maxmemory ${memory.maxmemory}): the backlog must be stored first`;
}

export interface WritabilityOptions {
  /** May the broker set `maxmemory-policy noeviction` (`redis.manage_persistence`)? */
  manage: boolean;
  limits: BacklogLimits;
  /** `queue.replicas`: that many replicas must be online (0: none needed). */
  replicas?: number;
  logger: Logger;
  intervalMs?: number;
  /** Told at each check whether the memory limit is reached (status events give way: event-pressure.ts). */
  pressure?: { relieve(full: boolean): Promise<unknown> };
}

export class WritabilityWatch {
  /** The problems last seen; empty while Redis can keep messages (or cannot be asked). */
  problems: readonly string[] = [];
  /** Why submits are refused as QUEUE_FULL (the broker's memory limit reached), or undefined. */
  full: string | undefined;
  /** Redis memory as last read; undefined before the first reading. */
  memory: RedisMemory | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private checking = false;

  constructor(
    private readonly redis: Redis,
    private readonly options: WritabilityOptions,
  ) {}

  /** Checks once now (start-up fixes an evicting policy before the first request), then every interval. */
  async start(): Promise<void> {
    await this.check();
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /**
   * The next check: every interval, but ten times as often while Redis is past 80 % of the
   * broker's limit — the headroom above the limit (a tenth of maxmemory by default) must
   * outlast the time between two checks, and a burst can cross a small one within a second.
   */
  private schedule(): void {
    if (this.stopped) return;
    const interval = this.options.intervalMs ?? 1000;
    const memory = this.memory;
    const near = memory !== undefined && memory.limit > 0 && memory.used >= memory.limit * NEAR_LIMIT;
    this.timer = setTimeout(
      () => void this.check().finally(() => this.schedule()),
      near ? Math.max(10, Math.round(interval / 10)) : interval,
    );
    this.timer.unref();
  }

  private problemsOf(info: string): string[] {
    const shortfall = replicaShortfall(info, this.options.replicas ?? 0);
    return shortfall ? [...writeProblems(info), shortfall] : writeProblems(info);
  }

  async check(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      let info = await this.redis.info();
      let problems = this.problemsOf(info);
      if (this.options.manage && problems.some((p) => p.includes('maxmemory-policy'))) {
        try {
          await this.redis.config('SET', 'maxmemory-policy', 'noeviction');
          this.options.logger.warn(
            'set Redis maxmemory-policy to noeviction: an evicting policy could drop queued messages',
          );
          info = await this.redis.info();
          problems = this.problemsOf(info);
        } catch (error) {
          this.options.logger.error({ err: (error as Error).message }, 'cannot set Redis maxmemory-policy noeviction');
        }
      }
      if (problems.join() !== this.problems.join()) {
        if (problems.length > 0)
          this.options.logger.error({ problems }, 'Redis cannot keep messages: refusing submits');
        else if (this.problems.length > 0) this.options.logger.info('Redis keeps messages again: accepting submits');
      }
      this.problems = problems;
      this.memory = redisMemory(info, this.options.limits);
      const full = backlogFull(this.memory, this.full !== undefined);
      if ((full === undefined) !== (this.full === undefined)) {
        if (full)
          this.options.logger.error(
            { used: this.memory.used, limit: this.memory.limit },
            'Redis memory limit reached: refusing submits (QUEUE_FULL)',
          );
        else
          this.options.logger.info(
            { used: this.memory.used, limit: this.memory.limit },
            'Redis memory below the limit again: accepting submits',
          );
      }
      this.full = full;
      await this.options.pressure?.relieve(full !== undefined);
    } catch {
      // Redis does not answer: the health probe and the appends say so themselves.
    } finally {
      this.checking = false;
    }
  }
}
