import { describe, expect, it } from 'vitest';
import { SlotAllocator } from './slot-allocator.js';

describe('SlotAllocator', () => {
  it('never hands out more than the total, whoever asks', () => {
    const slots = new SlotAllocator(10);
    const a = slots.register('a', 5);
    const b = slots.register('b', 5);
    expect(a.take(8)).toBe(8);
    expect(b.take(8)).toBe(2);
    expect(slots.inUse).toBe(10);
    expect(a.take(1)).toBe(0);
  });

  it('is work-conserving: a lone busy domain takes every slot, whatever its share', () => {
    const slots = new SlotAllocator(64);
    const busy = slots.register('busy', 1);
    slots.register('idle-1', 32);
    slots.register('idle-2', 32);
    expect(busy.take(100)).toBe(64);
    expect(busy.limit).toBe(64);
  });

  it('gives a freed slot to a waiting domain, not to the next domain that asks', () => {
    const slots = new SlotAllocator(4);
    const a = slots.register('a', 2);
    const b = slots.register('b', 2);
    expect(a.take(4)).toBe(4);
    b.declare(3);
    a.release(1);
    // a asks again before b polls: the slot is b's.
    expect(a.take(4)).toBe(0);
    expect(b.take(3)).toBe(1);
  });

  it('serves domains below their guarantee first, then round robin', () => {
    const slots = new SlotAllocator(6);
    const a = slots.register('a', 2);
    const b = slots.register('b', 2);
    const c = slots.register('c', 2);
    expect(a.take(6)).toBe(6);
    const declareAll = () => {
      for (const d of [a, b, c]) d.declare(10);
    };
    declareAll();
    // a still holds 3, more than its 2: the three freed slots go to b and c, in turn.
    a.release(3);
    expect([a.take(10), b.take(10), c.take(10)]).toEqual([0, 2, 1]);
    declareAll();
    a.release(1);
    expect([a.take(10), b.take(10), c.take(10)]).toEqual([0, 0, 1]);
    // Now a is below its 2 and the others are not: a is served first.
    declareAll();
    a.release(1);
    expect([b.take(10), c.take(10), a.take(10)]).toEqual([0, 0, 1]);
    // A domain's own freed slots come back to it while it is below its guarantee.
    declareAll();
    b.release(2);
    c.release(1);
    expect([a.take(10), b.take(10), c.take(10)]).toEqual([0, 2, 1]);
  });

  it('lets no waiting domain starve behind a busier one (round robin over many releases)', () => {
    const slots = new SlotAllocator(10);
    const domains = ['a', 'b', 'c'].map((name) => slots.register(name, 0));
    const [a, b, c] = domains as [(typeof domains)[0], (typeof domains)[0], (typeof domains)[0]];
    expect(a.take(10)).toBe(10);
    const got = { a: 0, b: 0, c: 0 };
    for (let i = 0; i < 30; i++) {
      for (const d of domains) d.declare(100);
      // Whoever holds slots frees one; the turn moves on.
      const holder = domains.find((d) => d.held > 0)!;
      holder.release(1);
      for (const d of domains) got[d.domain as keyof typeof got] += d.take(100);
    }
    expect(got.b).toBeGreaterThanOrEqual(9);
    expect(got.c).toBeGreaterThanOrEqual(9);
    expect(got.a).toBeGreaterThanOrEqual(9);
    expect(a.held + b.held + c.held).toBe(10);
  });

  it('returns reservations nobody takes: a domain that withdraws or wants fewer gives them to the others', () => {
    const slots = new SlotAllocator(4);
    const a = slots.register('a', 0);
    const b = slots.register('b', 0);
    const c = slots.register('c', 0);
    expect(a.take(4)).toBe(4);
    b.declare(2);
    c.declare(2);
    a.release(4);
    // b: two reserved, c: two reserved. b's breaker opens: it withdraws.
    b.withdraw();
    c.declare(2);
    expect(c.take(4)).toBe(4);
    c.release(4);
    // Wanting fewer than reserved gives the rest back at once.
    a.declare(3);
    expect(a.take(1)).toBe(1);
    expect(b.take(4)).toBe(3);
  });

  it('tells a waiting domain when slots are reserved for it, once per grant, and nobody else', () => {
    const slots = new SlotAllocator(4);
    const a = slots.register('a', 0);
    const b = slots.register('b', 0);
    const told = { a: 0, b: 0 };
    a.onReserved(() => told.a++);
    b.onReserved(() => {
      told.b++;
      // Called after the grant: the books add up, and the slots can be taken at once.
      expect(b.take(4)).toBe(2);
    });
    expect(a.take(4)).toBe(4);
    a.release(1);
    // Nobody waits: a freed slot goes back to the pool without a call.
    expect(told).toEqual({ a: 0, b: 0 });
    expect(a.take(1)).toBe(1);
    b.declare(2);
    expect(told).toEqual({ a: 0, b: 0 });
    a.release(2);
    expect(told).toEqual({ a: 0, b: 1 });
    expect(b.held).toBe(2);
  });

  it('caps a guarantee at the total and refuses a bad total or a second registration', () => {
    const slots = new SlotAllocator(35);
    expect(slots.register('a', 100).guaranteed).toBe(35);
    expect(() => slots.register('a', 1)).toThrow(/registered already/);
    expect(() => new SlotAllocator(0)).toThrow(RangeError);
  });
});
