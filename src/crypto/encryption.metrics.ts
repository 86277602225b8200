/**
 * Crypto metrics, per batch: how many items each operation handled, how many could not be
 * opened (lost key, tampered envelope), and how long a batch took. Seals are counted by
 * the ingest actor (it seals before the append), opens and hashes by the encryption
 * actor; the supervisor sums the threads' registries.
 */
import { CounterFamily, HistogramFamily } from '../metrics/fast-series.js';

export type EncryptionOperation = 'seal' | 'open' | 'hash';

const operations = new CounterFamily(
  'mb_encryption_operations_total',
  'Items sealed (body+number, before the append), opened (decrypt) or hashed (number lookups), by operation',
  ['operation'],
);
const failures = new CounterFamily(
  'mb_encryption_failures_total',
  'Items that could not be sealed, opened or hashed, by operation',
  ['operation'],
);
const durations = new HistogramFamily(
  'mb_encryption_batch_duration_seconds',
  'Time to handle one batch, by operation',
  ['operation'],
  [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
);

const series = Object.fromEntries(
  (['seal', 'open', 'hash'] as const).map((op) => [
    op,
    { done: operations.series(op), failed: failures.series(op), duration: durations.series(op) },
  ]),
) as Record<
  EncryptionOperation,
  {
    done: ReturnType<typeof operations.series>;
    failed: ReturnType<typeof failures.series>;
    duration: ReturnType<typeof durations.series>;
  }
>;

/** Runs one batch and counts it; `failed` tells how many of its results are refusals. */
export async function measured<T>(
  operation: EncryptionOperation,
  items: number,
  work: () => T | Promise<T>,
  failed: (result: T) => number = () => 0,
): Promise<T> {
  const { done, failed: refused, duration } = series[operation];
  const started = performance.now();
  try {
    const result = await work();
    done.inc(items);
    refused.inc(failed(result));
    return result;
  } catch (error) {
    refused.inc(items);
    throw error;
  } finally {
    duration.observe((performance.now() - started) / 1000);
  }
}

/** `measured` for synchronous work (the ingest actor's seal, inside its append). */
export function measuredSync<T>(operation: EncryptionOperation, items: number, work: () => T): T {
  const { done, failed: refused, duration } = series[operation];
  const started = performance.now();
  try {
    const result = work();
    done.inc(items);
    return result;
  } catch (error) {
    refused.inc(items);
    throw error;
  } finally {
    duration.observe((performance.now() - started) / 1000);
  }
}
