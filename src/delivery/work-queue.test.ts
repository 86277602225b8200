import { describe, expect, it } from 'vitest';
import { createWorkQueue, type TaskResult } from './work-queue.js';

const settleAll = <T, R>(
  run: (onEach: (task: T, result: TaskResult<R>) => void) => void,
  count: number,
): Promise<Array<[T, TaskResult<R>]>> =>
  new Promise((resolve) => {
    const seen: Array<[T, TaskResult<R>]> = [];
    run((task, result) => {
      seen.push([task, result]);
      if (seen.length === count) resolve(seen);
    });
  });

describe('createWorkQueue', () => {
  it('runs every task of a batch together and reports each with its result as it ends', async () => {
    let running = 0;
    let peak = 0;
    const queue = createWorkQueue(
      async (n: number) => {
        running++;
        peak = Math.max(peak, running);
        await new Promise((r) => setTimeout(r, 5 * (4 - n)));
        running--;
        return n * 2;
      },
      { concurrency: 1 },
    );
    const seen = await settleAll<number, number>((onEach) => queue.runEach([0, 1, 2, 3], onEach), 4);
    // The slowest first: each is reported when it ends, not when the batch does.
    expect(seen.map(([n]) => n)).toEqual([3, 2, 1, 0]);
    expect(seen.map(([, r]) => r)).toEqual([3, 2, 1, 0].map((n) => ({ ok: true, value: n * 2 })));
    expect(peak).toBe(4);
  });

  it('runs at most `concurrency` batches at once, first in first out', async () => {
    let running = 0;
    let peak = 0;
    const started: number[] = [];
    const queue = createWorkQueue(
      async (n: number) => {
        started.push(n);
        running++;
        peak = Math.max(peak, running);
        await new Promise((r) => setTimeout(r, 5));
        running--;
        return n;
      },
      { concurrency: 2 },
    );
    const seen = await settleAll<number, number>((onEach) => {
      for (let batch = 0; batch < 5; batch++) queue.runEach([batch * 10, batch * 10 + 1], onEach);
    }, 10);
    expect(seen).toHaveLength(10);
    expect(peak).toBe(4);
    expect(started.filter((n) => n % 10 === 0)).toEqual([0, 10, 20, 30, 40]);
  });

  it('reports a failing task as an error and goes on with the others', async () => {
    const queue = createWorkQueue(
      async (n: number) => {
        if (n === 1) throw new Error('boom');
        if (n === 2) throw 'not an error';
        return n;
      },
      { concurrency: 1 },
    );
    const seen = await settleAll<number, number>((onEach) => queue.runEach([0, 1, 2, 3], onEach), 4);
    const byTask = new Map(seen);
    expect(byTask.get(0)).toEqual({ ok: true, value: 0 });
    expect(byTask.get(1)).toMatchObject({ ok: false, error: { message: 'boom' } });
    expect(byTask.get(2)).toMatchObject({ ok: false, error: { message: 'not an error' } });
    expect(byTask.get(3)).toEqual({ ok: true, value: 3 });
  });

  it('keeps going when a result callback throws', async () => {
    const queue = createWorkQueue(async (n: number) => n, { concurrency: 1 });
    queue.runEach([1], () => {
      throw new Error('caller bug');
    });
    const seen = await settleAll<number, number>((onEach) => queue.runEach([2], onEach), 1);
    expect(seen).toEqual([[2, { ok: true, value: 2 }]]);
  });

  it('refuses a concurrency below one', () => {
    expect(() => createWorkQueue(async () => 0, { concurrency: 0 })).toThrow(RangeError);
  });
});
