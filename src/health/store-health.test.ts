import { describe, expect, it } from 'vitest';
import type { DeliveryStats } from '../delivery/delivery.types.js';
import { storeHealth } from './store-health.js';

const stats = (failingSince: string | null): DeliveryStats => ({
  stored: 10,
  delivered: 10,
  attempts_failed: 0,
  retries_scheduled: 0,
  dead_lettered: 0,
  store_batches_failed: 3,
  in_flight: 0,
  store_failing_since: failingSince,
  store_error: failingSince ? 'database error ER_OPTION_PREVENTS_STATEMENT' : null,
});

describe('the store health component', () => {
  const now = Date.parse('2026-12-07T12:00:10Z');

  it('is up while batches are stored, and after a failure of less than 5 s (a retry may still succeed)', () => {
    expect(storeHealth(stats(null), now)).toEqual({ store: { status: 'up' } });
    expect(storeHealth(stats('2026-12-07T12:00:06Z'), now)).toEqual({ store: { status: 'up' } });
  });

  it('is degraded with the error once every batch has failed for 5 s', () => {
    expect(storeHealth(stats('2026-12-07T12:00:05Z'), now)).toEqual({
      store: {
        status: 'degraded',
        problem: 'accepted messages wait in Redis: storing them in MySQL fails',
        failing_since: '2026-12-07T12:00:05Z',
        error: 'database error ER_OPTION_PREVENTS_STATEMENT',
        batches_failed: 3,
      },
    });
  });

  it('says nothing while the delivery actor does not answer (its own component says so)', () => {
    expect(storeHealth(undefined, now)).toEqual({});
  });
});
