/**
 * Which list reads were audited a moment ago, so that identical ones are not recorded
 * again within `windowMs`. A live page (src/portal/assets/live.js) fetches itself again
 * on every hint — each a `message.list` row, hundreds an hour for one open page.
 *
 * Merged rather than skipped on the client's word (a header): the audit log is there for
 * what an admin reads, and a header is something an admin's own script could send to read
 * unrecorded. A repeat of the same read (same user, filters and page) within the window
 * shows that list again, with newer rows at most: the row recorded at its start already
 * says who looked at what. Per broker, in memory: a read through another broker, or after
 * a restart, is recorded again — more rows, never fewer.
 */
const MAX_ENTRIES = 10_000;

export class RecentReads {
  private readonly recordedAt = new Map<string, number>();

  constructor(private readonly windowMs = 60_000) {}

  /** True when this read is to be recorded (and remembers it); false within the window of an identical one. */
  shouldRecord(key: string, now = Date.now()): boolean {
    const last = this.recordedAt.get(key);
    if (last !== undefined && now - last < this.windowMs) return false;
    if (this.recordedAt.size >= MAX_ENTRIES) this.forgetOlderThan(now - this.windowMs);
    // Still full of fresh reads: start over (the cost is a few rows recorded twice).
    if (this.recordedAt.size >= MAX_ENTRIES) this.recordedAt.clear();
    this.recordedAt.set(key, now);
    return true;
  }

  private forgetOlderThan(cutoff: number): void {
    for (const [key, at] of this.recordedAt) if (at <= cutoff) this.recordedAt.delete(key);
  }
}
