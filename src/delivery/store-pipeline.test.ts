import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sealEnvelope } from '../crypto/envelope.js';
import type { StreamEntryFields } from '../queue/stream-entry.types.js';
import { mustWaitForBatch, storedRow } from './store-pipeline.js';

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

describe('storedRow', () => {
  const fields: StreamEntryFields = {
    m: 'm-1',
    c: '7',
    n: 'gw',
    be: sealEnvelope(randomBytes(32), 'k1', Buffer.from('body'), Buffer.from('m-1')),
    se: Buffer.alloc(0),
    h: 'ab',
    p: 'p1',
    sm: '+1****0',
    md: '',
    q: '2026-01-01T00:00:00.000Z',
    rt: '',
    tg: '',
    rm: '',
  };
  const now = new Date('2026-01-01T00:00:00.250Z');

  it('a store target: delivered when stored, at one timestamp (delivered_at is stored_at)', () => {
    const row = storedRow(fields, 'default', 'default', false, now);
    expect(row).toMatchObject({ status: 'delivered', attempt_count: 1, next_attempt_at: null, key_id: 'k1' });
    expect(row.created_at).toBe(now);
    expect(row.delivered_at).toBe(row.created_at);
  });

  it('a target delivering by attempts: queued, its first attempt due when stored', () => {
    const row = storedRow(fields, 'default', 'hook', true, now);
    expect(row).toMatchObject({ status: 'queued', attempt_count: 0, delivered_at: null, target: 'hook' });
    expect(row.next_attempt_at).toBe(row.created_at);
  });
});
