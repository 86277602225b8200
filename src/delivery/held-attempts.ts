/**
 * The first attempts a target's dispatcher holds in memory: stored in MySQL, leased in
 * Redis, waiting for a delivery slot, oldest first (`delivery.held_attempts`; see
 * target-dispatcher.ts). Rows are counted from the moment they are leased (`reserve`), so
 * two store batches under way at once respect the bound and the order together, and become
 * startable when their batch is acknowledged (`join`). Each remembers when it was leased: a
 * row held for half its lease is given back to the schedule before the lease can expire.
 *
 * Single-threaded (the delivery actor's event loop): no locking.
 */
export class HeldAttempts<Row> {
  private rows: Array<{ row: Row; since: number }> = [];
  /** Leased to be held, not startable yet (their store batch is being acknowledged). */
  private joining = 0;

  constructor(private readonly max: number) {}

  /** Startable rows held. */
  get size(): number {
    return this.rows.length;
  }

  /** Nothing held or about to be: a new first attempt overtakes no one. */
  get empty(): boolean {
    return this.rows.length + this.joining === 0;
  }

  /** How many more may be reserved. */
  get room(): number {
    return Math.max(0, this.max - this.rows.length - this.joining);
  }

  /** Counts `count` rows being leased to be held. */
  reserve(count: number): void {
    this.joining += count;
  }

  /** Reserved rows that will not be held after all (the lease failed, or the dispatcher stopped). */
  cancel(count: number): void {
    this.joining -= count;
  }

  /** Reserved rows, now startable, leased at `since`. */
  join(rows: readonly Row[], since: number): void {
    this.joining -= rows.length;
    for (const row of rows) this.rows.push({ row, since });
  }

  /** The oldest `count` rows (fewer if fewer are held). */
  take(count: number): Row[] {
    return this.rows.splice(0, count).map((held) => held.row);
  }

  takeAll(): Row[] {
    return this.take(this.rows.length);
  }

  /** Rows leased at or before `cutoff` (the oldest are first). */
  takeLeasedBy(cutoff: number): Row[] {
    let stale = 0;
    while (stale < this.rows.length && this.rows[stale]!.since <= cutoff) stale++;
    return this.take(stale);
  }
}
