import { describe, expect, it } from 'vitest';
import { mustWaitForBatch } from './store-pipeline.js';

describe('mustWaitForBatch', () => {
  const state = { inFlight: 1, maxInFlight: 2, rereading: false, deep: true };

  it('reads at once when no batch is under way', () => {
    expect(mustWaitForBatch({ ...state, inFlight: 0, deep: false, rereading: true })).toBe(false);
  });

  it('overlaps batches while the last read filled one, up to store_concurrency', () => {
    expect(mustWaitForBatch(state)).toBe(false);
    expect(mustWaitForBatch({ ...state, inFlight: 2 })).toBe(true);
  });

  it('waits for the batch under way when the last read was short: the next batch grows meanwhile', () => {
    expect(mustWaitForBatch({ ...state, deep: false })).toBe(true);
  });

  it('re-reads own pending entries only with no batch under way', () => {
    expect(mustWaitForBatch({ ...state, rereading: true })).toBe(true);
  });
});
