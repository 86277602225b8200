/**
 * "Run this task with at most N at once, in order of arrival": all the webhook dispatcher
 * needs, hand-written. It replaced better-queue, whose per-task bookkeeping (a lock map,
 * a `setImmediate` per batch, a worker object per task) cost the delivery actor more than
 * the semaphore it stood in for: the dispatcher's slots already bound what it starts.
 */

export interface WorkQueue<T, R> {
  /**
   * Queues a task; `run` resolves with what the worker resolved. A worker that rejects
   * (or throws) rejects `run` with the same error (so the caller decides what a failure means).
   */
  run(task: T): Promise<R>;
}

export interface WorkQueueOptions {
  /** Tasks under way at once. */
  concurrency: number;
}

interface Waiting<T, R> {
  task: T;
  resolve(result: R): void;
  reject(error: unknown): void;
}

/** A first-in, first-out queue running at most `concurrency` workers at a time. */
export function createWorkQueue<T, R>(worker: (task: T) => Promise<R>, options: WorkQueueOptions): WorkQueue<T, R> {
  const { concurrency } = options;
  if (!Number.isInteger(concurrency) || concurrency < 1)
    throw new RangeError(`concurrency must be a positive integer, got ${concurrency}`);
  let running = 0;
  // A plain array with a moving head: shift() would copy it on every task.
  let waiting: Array<Waiting<T, R>> = [];
  let head = 0;
  const start = (task: T): Promise<R> => {
    running++;
    let started: Promise<R>;
    try {
      started = worker(task);
    } catch (error) {
      started = Promise.reject(error);
    }
    return started.finally(next);
  };
  const next = (): void => {
    running--;
    if (head === waiting.length) return;
    const item = waiting[head++]!;
    if (head === waiting.length) {
      waiting = [];
      head = 0;
    }
    start(item.task).then(item.resolve, item.reject);
  };
  return {
    run: (task) =>
      running < concurrency
        ? start(task)
        : new Promise<R>((resolve, reject) => void waiting.push({ task, resolve, reject })),
  };
}
