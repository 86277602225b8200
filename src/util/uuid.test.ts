import { describe, expect, it } from 'vitest';
import { uuidV4, uuidV7, uuidV7Time } from './uuid.js';

const FORMAT = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('uuidV7', () => {
  it('is an RFC 9562 version 7 UUID carrying the time in milliseconds', () => {
    const now = Date.UTC(2026, 11, 7, 2, 30, 0, 123);
    const id = uuidV7(now);
    expect(id).toMatch(FORMAT);
    expect(uuidV7Time(id)).toBe(now);
    expect(id.slice(0, 13)).toBe('01a24e56-2cbb');
  });

  it('orders by time and is unique across pool refills', () => {
    const ids = Array.from({ length: 1000 }, (_, i) => uuidV7(1_765_000_000_000 + i));
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
    for (const id of ids) expect(id).toMatch(FORMAT);
  });

  it('keeps 74 random bits: ids of the same millisecond differ', () => {
    const ids = new Set(Array.from({ length: 500 }, () => uuidV7(1_765_000_000_000)));
    expect(ids.size).toBe(500);
  });

  it('reads like Node 24 crypto.randomUUIDv7 where that exists', async () => {
    const crypto = (await import('node:crypto')) as unknown as { randomUUIDv7?: () => string };
    if (!crypto.randomUUIDv7) return;
    const before = Date.now();
    const theirs = uuidV7Time(crypto.randomUUIDv7());
    expect(theirs).toBeGreaterThanOrEqual(before);
    expect(Math.abs(uuidV7Time(uuidV7()) - theirs)).toBeLessThan(1000);
  });
});

describe('uuidV4', () => {
  it('is an RFC 9562 version 4 UUID, unique across pool refills, interleaved with version 7 ids', () => {
    const ids = Array.from({ length: 600 }, (_, i) => (i % 2 ? uuidV4() : uuidV7()));
    expect(new Set(ids).size).toBe(ids.length);
    ids.forEach((id, i) => {
      if (i % 2) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      else expect(id).toMatch(FORMAT);
    });
  });
});
