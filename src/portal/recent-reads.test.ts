import { describe, expect, it } from 'vitest';
import { RecentReads } from './recent-reads.js';

describe('RecentReads', () => {
  it('records a read once per window; another read, or the same after the window, again', () => {
    const reads = new RecentReads(60_000);
    expect(reads.shouldRecord('u1|a', 0)).toBe(true);
    expect(reads.shouldRecord('u1|a', 30_000)).toBe(false);
    expect(reads.shouldRecord('u1|b', 30_000)).toBe(true);
    expect(reads.shouldRecord('u2|a', 30_000)).toBe(true);
    expect(reads.shouldRecord('u1|a', 59_999)).toBe(false);
    expect(reads.shouldRecord('u1|a', 60_000)).toBe(true);
    expect(reads.shouldRecord('u1|a', 90_000)).toBe(false);
  });

  it('stays bounded', () => {
    const reads = new RecentReads(60_000);
    for (let i = 0; i < 25_000; i++) expect(reads.shouldRecord(`k${i}`, i)).toBe(true);
    expect((reads as unknown as { recordedAt: Map<string, number> }).recordedAt.size).toBeLessThanOrEqual(10_000);
  });
});
