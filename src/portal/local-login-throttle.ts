/**
 * Per-address throttling of failed sign-ins in this process's memory: the stand-in for the
 * shared window in Redis while Redis does not answer (src/portal/login-throttle.ts). After
 * `maxFailures` failures within the window, further attempts from that address are
 * refused (429) until the window ends.
 *
 * An attempt is counted as a failure when it starts (`begin`) and given back when it
 * succeeds (`succeeded`): a burst of parallel attempts cannot all pass the check before
 * the first of them has failed, as they could while failures were counted at the end.
 *
 * The map is bounded, so a flood of spoofed-looking addresses cannot grow it without limit.
 */
export const THROTTLE_WINDOW_MS = 15 * 60_000;
const MAX_TRACKED = 100_000;

interface Window {
  failures: number;
  resetAt: number;
}

export class LocalLoginThrottle {
  private readonly windows = new Map<string, Window>();

  constructor(
    private readonly maxFailures: number,
    private readonly windowMs = THROTTLE_WINDOW_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** Milliseconds until the address may try again; 0 when it may now. */
  blockedFor(ip: string): number {
    const window = this.current(ip);
    return window && window.failures >= this.maxFailures ? window.resetAt - this.now() : 0;
  }

  /**
   * Starts an attempt: false while the address is throttled; otherwise the attempt is
   * counted as a failure right away (check and count in one synchronous step).
   */
  begin(ip: string): boolean {
    if (this.blockedFor(ip) > 0) return false;
    this.recordFailure(ip);
    return true;
  }

  /** The attempt begun for this address signed in: it does not count as a failure. */
  succeeded(ip: string): void {
    const window = this.current(ip);
    if (window && window.failures > 0) window.failures--;
  }

  recordFailure(ip: string): void {
    const window = this.current(ip);
    if (window) {
      window.failures++;
      return;
    }
    if (this.windows.size >= MAX_TRACKED) this.prune();
    this.windows.set(ip, { failures: 1, resetAt: this.now() + this.windowMs });
  }

  private current(ip: string): Window | undefined {
    const window = this.windows.get(ip);
    if (window && window.resetAt <= this.now()) {
      this.windows.delete(ip);
      return undefined;
    }
    return window;
  }

  private prune(): void {
    const now = this.now();
    for (const [ip, window] of this.windows) if (window.resetAt <= now) this.windows.delete(ip);
    // Still full: drop the oldest tenth (Map iterates in insertion order).
    if (this.windows.size >= MAX_TRACKED) {
      let drop = Math.ceil(MAX_TRACKED / 10);
      for (const ip of this.windows.keys()) {
        if (drop-- <= 0) break;
        this.windows.delete(ip);
      }
    }
  }
}
