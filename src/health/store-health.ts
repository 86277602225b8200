/** The `store` health component: whether accepted messages reach MySQL. */
import type { DeliveryStats } from '../delivery/delivery.types.js';
import type { HealthReport } from './health.types.js';

/**
 * Storing into MySQL, as the delivery actor sees it: MySQL may answer the health ping while
 * refusing every INSERT (read-only, a revoked grant, a full disk), and then accepted messages
 * wait in Redis. A failure that has lasted STORE_FAILING_GRACE_MS (past one retry) degrades
 * the broker and says why; a stray failed batch does not.
 */
export function storeHealth(stats: DeliveryStats | undefined, now = Date.now()): HealthReport['components'] {
  if (!stats) return {};
  const since = stats.store_failing_since;
  if (since === null || now - Date.parse(since) < STORE_FAILING_GRACE_MS) return { store: { status: 'up' } };
  return {
    store: {
      status: 'degraded',
      problem: 'accepted messages wait in Redis: storing them in MySQL fails',
      failing_since: since,
      error: stats.store_error,
      batches_failed: stats.store_batches_failed,
    },
  };
}

/** One failed batch and its first retry (200 ms, 400 ms, … backoff) pass without a word. */
const STORE_FAILING_GRACE_MS = 5000;
