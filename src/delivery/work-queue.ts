/**
 * The one place that knows better-queue. The webhook dispatcher needs only "run these
 * tasks, in order of arrival, each result as it comes"; it sees the `WorkQueue` interface,
 * so better-queue (pinned to an exact version in package.json: it is unmaintained
 * upstream, and its in-memory store is all we use) can be swapped for another runner
 * — p-limit, a hand-written semaphore — by changing this file alone.
 *
 * A batch of tasks is one better-queue job. better-queue pays a ticket, two listeners, a
 * timer, an id and a store write per job (≈ 6 KB and a few µs): per webhook attempt that
 * was the delivery actor's largest allocator, per batch of the attempts a claim or a store
 * batch starts together it is noise.
 */
import BetterQueue from 'better-queue';

export type TaskResult<R> = { ok: true; value: R } | { ok: false; error: Error };

export interface WorkQueue<T, R> {
  /**
   * Queues the tasks as one job, started together once the queue has room for it;
   * `onEach` is called as each task ends, with what the worker resolved or the error it
   * rejected with (the caller decides what a failure means). Never throws.
   */
  runEach(tasks: readonly T[], onEach: (task: T, result: TaskResult<R>) => void): void;
}

export interface WorkQueueOptions {
  /**
   * Jobs (batches) under way at once. The tasks in them are bounded by the caller: the
   * dispatcher starts only attempts that hold one of its slots.
   */
  concurrency: number;
}

/** A first-in, first-out queue of batches, running at most `concurrency` batches at a time. */
export function createWorkQueue<T, R>(worker: (task: T) => Promise<R>, options: WorkQueueOptions): WorkQueue<T, R> {
  if (!Number.isInteger(options.concurrency) || options.concurrency < 1)
    throw new RangeError(`concurrency must be a positive integer, got ${options.concurrency}`);
  interface Job {
    tasks: readonly T[];
    onEach: (task: T, result: TaskResult<R>) => void;
  }
  const report = (job: Job, task: T, result: TaskResult<R>) => {
    try {
      job.onEach(task, result);
    } catch {
      // The caller's callback must not stop the job's other tasks or the queue.
    }
  };
  // better-queue's own retries and store are off: the dispatcher schedules retries in
  // Redis, where they survive a restart.
  const queue = new BetterQueue<Job, void>(
    (job: Job, done: (error: unknown) => void) => {
      let left = job.tasks.length;
      for (const task of job.tasks) {
        let running: Promise<R>;
        try {
          running = worker(task);
        } catch (error) {
          running = Promise.reject(error);
        }
        running
          .then(
            (value) => report(job, task, { ok: true, value }),
            (error: unknown) =>
              report(job, task, { ok: false, error: error instanceof Error ? error : new Error(String(error)) }),
          )
          .finally(() => {
            if (--left === 0) done(null);
          });
      }
    },
    { concurrent: options.concurrency, maxRetries: 0, autoResume: true },
  );
  return {
    runEach(tasks, onEach) {
      if (tasks.length > 0) queue.push({ tasks, onEach });
    },
  };
}
