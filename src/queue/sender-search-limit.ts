/**
 * How many sender-number searches a portal user may run: a fixed window per user in
 * Redis, shared by every broker, counted by `rate-take-1.lua` (the same window rules as a
 * client's rate limit, one round trip).
 *
 * Why: masked numbers show all but four digits, and a search answers "did this number
 * send anything?" — unlimited, that is a hashing oracle that recovers a masked number
 * from 10,000 candidates in about 30 s.
 */
import type { Redis } from 'ioredis';
import { portalUserKeys } from './keys.js';
import { defineScripts } from './scripts.js';

export interface SenderSearchTake {
  allowed: boolean;
  /** Searches counted in the current window (the refused one not included). */
  used: number;
  limit: number;
  /** ms until the window ends. */
  resetMs: number;
}

export class SenderSearchLimit {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    readonly limit: number,
    readonly windowMs: number,
  ) {}

  /** Counts one search of the user, unless the window is full. */
  async take(userId: number): Promise<SenderSearchTake> {
    const key = portalUserKeys(this.prefix, userId).senderSearches;
    const reply = await defineScripts(this.redis).mbRateTake(key, this.limit, this.windowMs);
    const [allowed, used, resetMs] = (reply as unknown[]).map(Number);
    return { allowed: allowed === 1, used: used!, limit: this.limit, resetMs: resetMs! };
  }
}
