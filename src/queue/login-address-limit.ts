/**
 * Failed portal sign-ins per address, counted in Redis so that every broker sharing the
 * Redis and key prefix shares one window per address (`login-begin-1.lua`,
 * `login-give-back-1.lua`). An attempt is counted when it starts, in the same step as the
 * check, and given back when it signs in: see src/portal/login-throttle.ts for the policy
 * around it (and what happens while Redis is unreachable).
 */
import type { Redis } from 'ioredis';
import { portalAddressKeys } from './keys.js';
import { defineScripts } from './scripts.js';

export interface LoginAddressTake {
  allowed: boolean;
  /** Failures counted in the window (this attempt included when allowed). */
  failures: number;
  /** ms until the window ends. */
  resetMs: number;
}

export class LoginAddressLimit {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    readonly maxFailures: number,
    readonly windowMs: number,
  ) {}

  /** Counts the attempt as a failure, unless the address is throttled. Throws when Redis does not answer. */
  async begin(ip: string): Promise<LoginAddressTake> {
    const key = portalAddressKeys(this.prefix, ip).loginFailures;
    const reply = await defineScripts(this.redis).mbLoginBegin(key, this.maxFailures, this.windowMs);
    const [allowed, failures, resetMs] = (reply as unknown[]).map(Number);
    return { allowed: allowed === 1, failures: failures!, resetMs: resetMs! };
  }

  /** The attempt begun for this address signed in: it is no failure. */
  async giveBack(ip: string): Promise<void> {
    await defineScripts(this.redis).mbLoginGiveBack(portalAddressKeys(this.prefix, ip).loginFailures);
  }
}
