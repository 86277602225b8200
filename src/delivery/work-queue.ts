/**
 * The one place that knows better-queue. The webhook dispatcher needs only "run this
 * task with at most N at once, in order of arrival"; it sees the `WorkQueue` interface,
 * so better-queue (pinned to an exact version in package.json: it is unmaintained
 * upstream, and its in-memory store is all we use) can be swapped for another runner
 * — p-limit, a hand-written semaphore — by changing this file alone.
 */
import BetterQueue from 'better-queue';

export interface WorkQueue<T, R> {
  /**
   * Queues a task; `run` resolves with what the worker resolved. A worker that rejects
   * rejects `run` with the same error (so the caller decides what a failure means).
   */
  run(task: T): Promise<R>;
}

export interface WorkQueueOptions {
  /** Tasks under way at once. */
  concurrency: number;
}

/** A first-in, first-out queue running at most `concurrency` workers at a time. */
export function createWorkQueue<T, R>(worker: (task: T) => Promise<R>, options: WorkQueueOptions): WorkQueue<T, R> {
  if (!Number.isInteger(options.concurrency) || options.concurrency < 1)
    throw new RangeError(`concurrency must be a positive integer, got ${options.concurrency}`);
  // better-queue's own retries and store are off: the dispatcher schedules retries in
  // Redis, where they survive a restart.
  const queue = new BetterQueue<T, R>(
    (task: T, done: (error: unknown, result?: R) => void) => {
      worker(task).then(
        (result) => done(null, result),
        (error: unknown) => done(error),
      );
    },
    { concurrent: options.concurrency, maxRetries: 0, autoResume: true },
  );
  return {
    run: (task) =>
      new Promise<R>((resolve, reject) => {
        queue.push(task, (error: unknown, result: R) => {
          if (error) reject(error instanceof Error ? error : new Error(String(error)));
          else resolve(result);
        });
      }),
  };
}
