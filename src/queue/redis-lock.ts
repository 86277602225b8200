/**
 * A lease in Redis that one broker holds at a time (`SET key token NX PX ttl`), for jobs
 * that several brokers sharing one Redis must not run together (the retention purge). The
 * holder keeps it alive while it works; a holder that dies simply lets it expire.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { lockKey } from './keys.js';
import { defineScripts, type ScriptedRedis } from './scripts.js';

export class RedisLock {
  readonly key: string;
  private readonly token: string;
  private readonly redis: ScriptedRedis;

  constructor(redis: Redis, prefix: string, name: string, holder: string) {
    this.key = lockKey(prefix, name);
    // The holder's name makes `GET` readable; the random tail tells two runs of one holder apart.
    this.token = `${holder}:${randomBytes(6).toString('hex')}`;
    this.redis = defineScripts(redis);
  }

  /** True when this caller now holds the lock for `ttlMs`. */
  async acquire(ttlMs: number): Promise<boolean> {
    return (await this.redis.set(this.key, this.token, 'PX', ttlMs, 'NX')) === 'OK';
  }

  /** Raises the TTL to at least `ttlMs`; false when the lock was lost meanwhile. */
  async extend(ttlMs: number): Promise<boolean> {
    return (await this.redis.mbExtendLock(this.key, this.token, ttlMs)) === 1;
  }

  async release(): Promise<void> {
    await this.redis.mbReleaseLock(this.key, this.token);
  }

  /** Who holds it (the holder part of the token), or null. */
  async holder(): Promise<string | null> {
    const token = await this.redis.get(this.key);
    return token === null ? null : token.replace(/:[0-9a-f]{12}$/, '');
  }
}
