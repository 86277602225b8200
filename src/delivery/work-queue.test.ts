import { describe, expect, it } from 'vitest';
import { createWorkQueue } from './work-queue.js';

describe('createWorkQueue', () => {
  it('runs every task, at most `concurrency` at once, and resolves each with its result', async () => {
    let running = 0;
    let peak = 0;
    const queue = createWorkQueue(
      async (n: number) => {
        running++;
        peak = Math.max(peak, running);
        await new Promise((r) => setTimeout(r, 5));
        running--;
        return n * 2;
      },
      { concurrency: 3 },
    );
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => queue.run(i)));
    expect(results).toEqual(Array.from({ length: 20 }, (_, i) => i * 2));
    expect(peak).toBe(3);
  });

  it('rejects a task whose worker fails, and goes on with the others', async () => {
    const queue = createWorkQueue(
      async (n: number) => {
        if (n === 1) throw new Error('boom');
        return n;
      },
      { concurrency: 2 },
    );
    const outcomes = await Promise.allSettled([queue.run(0), queue.run(1), queue.run(2)]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((outcomes[1] as PromiseRejectedResult).reason).toBeInstanceOf(Error);
  });

  it('refuses a concurrency below one', () => {
    expect(() => createWorkQueue(async () => 0, { concurrency: 0 })).toThrow(RangeError);
  });
});
