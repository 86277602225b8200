/**
 * The broker's webhook delivery slots, shared by all its webhook domains: at most `total`
 * POSTs in flight at once (`delivery.concurrency`), whoever they are for.
 *
 * Work-conserving: a domain takes any free slot, so a lone busy domain reaches `total`.
 * When slots run out, domains that still have attempts due declare how many; each slot
 * freed then goes to a waiting domain rather than back to the pool, one slot at a time,
 * round robin — first among the domains holding fewer than their guaranteed share
 * (`concurrency_share`), then among all that wait. A slot given to a domain is reserved
 * for it until its next poll takes it (or it withdraws), so a domain that polls more
 * often cannot take it first. Nothing is preempted: a domain that becomes busy while
 * others hold every slot reaches its share as their attempts end (within one timeout).
 * A domain is told when a slot is reserved for it (`onReserved`), so that it claims it at
 * once instead of at its next poll: a backlog drains at the downstream's pace, not at
 * `delivery.concurrency` ÷ `poll_interval_ms`.
 *
 *   take(want)  ── reserved for me, then free slots ──▶ slots held (one per POST)
 *   declare(n)  ── n attempts due, no slot: I wait (replaces my previous declaration)
 *   release(n)  ── a POST ended: the slot goes to the next waiter, else back to the pool
 *   withdraw()  ── not claiming for now (breaker open, paused, stopping): my reservations go
 *
 * Single-threaded (the delivery actor's event loop): no locking.
 */

/** One domain's view of the shared slots. */
export interface DomainSlots {
  readonly domain: string;
  /** Slots this domain is served first with when domains wait. */
  readonly guaranteed: number;
  /** The most it may hold: every slot. */
  readonly limit: number;
  /** Slots held: POSTs in flight (or about to start). */
  readonly held: number;
  /** Takes up to `want` slots now (its reservations first); returns how many. */
  take(want: number): number;
  /** Declares `count` attempts due that found no slot (0 = none): freed slots come to it in turn. */
  declare(count: number): void;
  /** Gives back `count` held slots. */
  release(count: number): void;
  /** Declares nothing due and returns its reservations. */
  withdraw(): void;
  /** Calls `listener` (once per grant, however many slots it reserved) when slots are reserved for it. */
  onReserved(listener: () => void): void;
}

interface DomainState {
  domain: string;
  guaranteed: number;
  held: number;
  reserved: number;
  waiting: number;
  onReserved: () => void;
}

export class SlotAllocator {
  private free: number;
  private readonly ring: DomainState[] = [];
  /** Index in `ring` of the domain that is served first at the next grant. */
  private next = 0;

  constructor(readonly total: number) {
    if (!Number.isInteger(total) || total < 1) throw new RangeError(`total must be a positive integer, got ${total}`);
    this.free = total;
  }

  /** Slots held by every domain together (at most `total`). */
  get inUse(): number {
    return this.ring.reduce((n, d) => n + d.held, 0);
  }

  /** Adds a domain; `guaranteed` is capped at `total`. */
  register(domain: string, guaranteed: number): DomainSlots {
    if (this.ring.some((d) => d.domain === domain)) throw new Error(`domain ${domain} is registered already`);
    const state: DomainState = {
      domain,
      guaranteed: Math.min(Math.max(0, Math.floor(guaranteed)), this.total),
      held: 0,
      reserved: 0,
      waiting: 0,
      onReserved: () => undefined,
    };
    this.ring.push(state);
    return {
      domain,
      guaranteed: state.guaranteed,
      limit: this.total,
      get held() {
        return state.held;
      },
      take: (want) => this.take(state, want),
      declare: (count) => this.declare(state, count),
      release: (count) => this.release(state, count),
      withdraw: () => this.withdraw(state),
      onReserved: (listener) => {
        state.onReserved = listener;
      },
    };
  }

  private take(state: DomainState, want: number): number {
    const wanted = Math.max(0, Math.floor(want));
    const fromReserved = Math.min(wanted, state.reserved);
    // Free slots exist only while nobody waits (each freed slot goes to a waiter first).
    const fromFree = Math.min(wanted - fromReserved, this.free);
    this.free -= fromFree;
    // Reservations beyond what it wants now are not needed: back to the others.
    this.free += state.reserved - fromReserved;
    state.reserved = 0;
    // What it still lacks it declares again after looking at its schedule.
    state.waiting = 0;
    state.held += fromReserved + fromFree;
    this.grant();
    return fromReserved + fromFree;
  }

  private declare(state: DomainState, count: number): void {
    state.waiting = Math.max(0, Math.floor(count));
    this.grant();
  }

  private release(state: DomainState, count: number): void {
    const n = Math.min(Math.max(0, Math.floor(count)), state.held);
    state.held -= n;
    this.free += n;
    this.grant();
  }

  private withdraw(state: DomainState): void {
    state.waiting = 0;
    this.free += state.reserved;
    state.reserved = 0;
    this.grant();
  }

  /** Hands free slots to waiting domains, one at a time, round robin. */
  private grant(): void {
    const served = new Set<DomainState>();
    while (this.free > 0) {
      const to = this.nextWaiting((d) => d.held + d.reserved < d.guaranteed) ?? this.nextWaiting((d) => d.waiting > 0);
      if (!to) break;
      to.waiting--;
      to.reserved++;
      this.free--;
      served.add(to);
    }
    // After the loop: a listener that takes its slots at once finds the books balanced.
    for (const state of served) state.onReserved();
  }

  /** The first waiting domain from `next` on that passes `test`; `next` moves past it. */
  private nextWaiting(test: (d: DomainState) => boolean): DomainState | undefined {
    for (let i = 0; i < this.ring.length; i++) {
      const index = (this.next + i) % this.ring.length;
      const d = this.ring[index]!;
      if (d.waiting > 0 && test(d)) {
        this.next = (index + 1) % this.ring.length;
        return d;
      }
    }
    return undefined;
  }
}
