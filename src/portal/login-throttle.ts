/**
 * Per-address throttling of failed sign-ins: after `portal.ip_max_failures` failures
 * within 15 minutes, further attempts from that address are refused (429 LOGIN_THROTTLED)
 * until the window ends. Account lockout (users.failed_logins / locked_until, global
 * through MySQL) stops guessing one password; this stops one address from walking
 * through many accounts.
 *
 * The window lives in Redis (src/queue/login-address-limit.ts), shared by every broker on
 * the same Redis and key prefix: kept per process, N brokers behind a load balancer
 * allowed N times the attempts (#17). An attempt is counted when it starts, in the same
 * atomic step as the check, and given back when it signs in.
 *
 *   begin(ip) ──▶ Redis window (login-begin-1) ──▶ allowed / throttled
 *                 └─ no answer ──▶ this process's window (LocalLoginThrottle)
 *
 * While Redis does not answer, the address is counted in this process instead (fail over,
 * not closed). Why: sign-in itself needs only MySQL, and the account lockout still holds
 * across brokers; refusing every sign-in during a Redis outage would lock the operators
 * out of the portal when they need it. The cost: for the outage, an address gets up to
 * `ip_max_failures` per broker, counted afresh. Going over and back is logged once each way.
 */
import type { Logger } from '../logger.js';
import type { LoginAddressLimit } from '../queue/login-address-limit.js';
import type { LocalLoginThrottle } from './local-login-throttle.js';

/** An attempt that was let through; it counts as a failure unless it signs in. */
export interface LoginAttempt {
  /** The attempt signed in: it is no failure. Never throws. */
  succeeded(): Promise<void>;
}

export class LoginThrottle {
  private sharedDown = false;

  constructor(
    private readonly shared: Pick<LoginAddressLimit, 'begin' | 'giveBack'>,
    private readonly local: Pick<LocalLoginThrottle, 'begin' | 'succeeded'>,
    private readonly logger?: Pick<Logger, 'warn' | 'info'>,
  ) {}

  /** Starts an attempt from `ip`: undefined while the address is throttled. */
  async begin(ip: string): Promise<LoginAttempt | undefined> {
    const address = addressOf(ip);
    let allowed: boolean;
    try {
      allowed = (await this.shared.begin(address)).allowed;
    } catch (error) {
      this.wentDown(error);
      return this.local.begin(address) ? { succeeded: async () => this.local.succeeded(address) } : undefined;
    }
    this.cameBack();
    if (!allowed) return undefined;
    return {
      // A give-back that fails leaves one failure too many counted: the safe side.
      succeeded: () => this.shared.giveBack(address).catch(() => undefined),
    };
  }

  private wentDown(error: unknown): void {
    if (this.sharedDown) return;
    this.sharedDown = true;
    this.logger?.warn(
      { err: error instanceof Error ? error.message : String(error) },
      'sign-in throttle: Redis does not answer; counting failed sign-ins per address in this broker only',
    );
  }

  private cameBack(): void {
    if (!this.sharedDown) return;
    this.sharedDown = false;
    this.logger?.info('sign-in throttle: Redis answers again; failed sign-ins per address are shared again');
  }
}

/** An IPv4 client seen through a dual-stack socket (`::ffff:10.0.0.1`) is the same address as `10.0.0.1`. */
export function addressOf(ip: string): string {
  return ip.toLowerCase().startsWith('::ffff:') && ip.includes('.') ? ip.slice('::ffff:'.length) : ip;
}
