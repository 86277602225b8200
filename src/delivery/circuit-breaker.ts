/**
 * A circuit breaker per downstream. After `failureThreshold` consecutive failed attempts
 * the breaker opens: nothing is claimed from the domain's schedule (messages wait in
 * Redis, no attempt is spent). After `openMs` one probe is let through (half-open); its
 * success closes the breaker, its failure opens it again for twice as long (up to 10×).
 *
 *   closed ──N failures──▶ open ──openMs──▶ half_open ──success──▶ closed
 *                           ▲                   │
 *                           └─────failure───────┘
 */

export type BreakerState = 'closed' | 'open' | 'half_open';

/** Gauge values: 0 closed, 1 half-open, 2 open. */
export const BREAKER_STATE_VALUE: Record<BreakerState, number> = { closed: 0, half_open: 1, open: 2 };

const MAX_OPEN_FACTOR = 10;

export interface BreakerSnapshot {
  state: BreakerState;
  consecutive_failures: number;
  opened_at: string | null;
  retry_at: string | null;
  last_error: string | null;
}

export class CircuitBreaker {
  private state: BreakerState = 'closed';
  private failures = 0;
  private openedAt = 0;
  private openFor: number;
  private probeInFlight = false;
  private probeSince = 0;
  private lastError: string | null = null;

  constructor(
    private readonly failureThreshold: number,
    private readonly openMs: number,
    /** How long a probe without an outcome blocks the next one (its outcome is lost by then). */
    private readonly probeTimeoutMs: number = Number.POSITIVE_INFINITY,
    private readonly onChange: (state: BreakerState) => void = () => {},
  ) {
    this.openFor = openMs;
  }

  /** How many attempts may start now, given `free` slots. */
  allowance(free: number, now = Date.now()): number {
    if (this.state === 'closed') return free;
    if (this.state === 'open' && now - this.openedAt >= this.openFor) this.transition('half_open');
    if (this.state === 'half_open' && this.probeInFlight && now - this.probeSince >= this.probeTimeoutMs)
      this.probeInFlight = false;
    if (this.state === 'half_open' && !this.probeInFlight && free > 0) return 1;
    return 0;
  }

  /** Call when attempts are about to start under a half-open breaker. */
  probing(now = Date.now()): void {
    if (this.state !== 'half_open') return;
    this.probeInFlight = true;
    this.probeSince = now;
  }

  /** The probe marked by `probing()` was not sent after all: the next look may send one. */
  probeAborted(): void {
    if (this.state === 'half_open') this.probeInFlight = false;
  }

  /**
   * The transport saw the downstream come back (a reconnect, an alarm lifted): an open
   * breaker lets its probe through now instead of at the end of its open time, which after
   * a long outage can be minutes. The probe still decides; a failed one doubles the wait as
   * usual. Returns whether a probe may now start.
   */
  recovered(): boolean {
    if (this.state === 'open') this.transition('half_open');
    return this.state === 'half_open' && !this.probeInFlight;
  }

  recordSuccess(): void {
    this.failures = 0;
    this.probeInFlight = false;
    this.openFor = this.openMs;
    if (this.state !== 'closed') this.transition('closed');
  }

  /** Only failures that say the downstream is unwell count (not a 4xx refusal of one message). */
  recordFailure(error: string, now = Date.now()): void {
    this.failures++;
    this.lastError = error;
    if (this.state === 'half_open') {
      this.probeInFlight = false;
      this.openFor = Math.min(this.openFor * 2, this.openMs * MAX_OPEN_FACTOR);
      this.open(now);
    } else if (this.state === 'closed' && this.failures >= this.failureThreshold) {
      this.open(now);
    }
  }

  snapshot(): BreakerSnapshot {
    return {
      state: this.state,
      consecutive_failures: this.failures,
      opened_at: this.state === 'closed' ? null : new Date(this.openedAt).toISOString(),
      retry_at: this.state === 'open' ? new Date(this.openedAt + this.openFor).toISOString() : null,
      last_error: this.lastError,
    };
  }

  get current(): BreakerState {
    return this.state;
  }

  private open(now: number): void {
    this.openedAt = now;
    this.transition('open');
  }

  private transition(state: BreakerState): void {
    this.state = state;
    this.onChange(state);
  }
}
