import { describe, expect, it } from 'vitest';
import { HeldAttempts } from './held-attempts.js';

describe('HeldAttempts', () => {
  it('counts reserved rows against the bound and as not empty, and starts none before they join', () => {
    const held = new HeldAttempts<string>(5);
    expect(held.empty).toBe(true);
    held.reserve(3);
    expect(held).toMatchObject({ room: 2, size: 0, empty: false });
    expect(held.take(10)).toEqual([]);
    held.join(['a', 'b', 'c'], 1000);
    expect(held).toMatchObject({ room: 2, size: 3 });
    held.reserve(2);
    expect(held.room).toBe(0);
    held.cancel(2);
    expect(held.room).toBe(2);
  });

  it('gives rows back oldest first, and those leased by a cutoff', () => {
    const held = new HeldAttempts<string>(10);
    held.reserve(2);
    held.join(['a', 'b'], 1000);
    held.reserve(2);
    held.join(['c', 'd'], 2000);
    expect(held.takeLeasedBy(999)).toEqual([]);
    expect(held.takeLeasedBy(1000)).toEqual(['a', 'b']);
    expect(held.take(1)).toEqual(['c']);
    expect(held.takeAll()).toEqual(['d']);
    expect(held.empty).toBe(true);
  });
});
