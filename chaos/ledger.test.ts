import { describe, expect, it } from 'vitest';
import { Ledger, type Outcome } from './ledger.js';

function ledgerOf(outcomes: Array<[string, Outcome]>): Ledger {
  const ledger = new Ledger();
  outcomes.forEach(([requestId, outcome], i) => {
    ledger.record({ requestId, sentAt: i, answeredAt: i + 1, outcome });
  });
  return ledger;
}

const ok = (messageId: string): Outcome => ({ kind: 'ok', messageId });
const refused = (code = 'QUEUE_UNAVAILABLE'): Outcome => ({ kind: 'refused', code });
const indeterminate = (): Outcome => ({ kind: 'indeterminate', code: 'UND_ERR_SOCKET' });

describe('Ledger.reconcile', () => {
  it('counts a clean run: everything acknowledged stored once', () => {
    const ledger = ledgerOf([
      ['r1', ok('m1')],
      ['r2', ok('m2')],
      ['r3', refused()],
    ]);
    const counts = ledger.reconcile([
      { messageId: 'm1', requestId: 'r1' },
      { messageId: 'm2', requestId: 'r2' },
    ]);
    expect(counts).toMatchObject({
      sent: 3,
      acknowledged: 2,
      refused: 1,
      lost: 0,
      duplicated: 0,
      unexpected: 0,
      indeterminate: 0,
      refusedBy: { QUEUE_UNAVAILABLE: 1 },
    });
  });

  it('counts an acknowledged message missing from storage as lost, with its entry', () => {
    const counts = ledgerOf([
      ['r1', ok('m1')],
      ['r2', ok('m2')],
    ]).reconcile([{ messageId: 'm1', requestId: 'r1' }]);
    expect(counts.lost).toBe(1);
    expect(counts.lostEntries.map((e) => e.requestId)).toEqual(['r2']);
  });

  it('counts the same message_id stored twice, and one request stored under two ids, as duplicated', () => {
    const ledger = ledgerOf([
      ['r1', ok('m1')],
      ['r2', indeterminate()],
    ]);
    const counts = ledger.reconcile([
      { messageId: 'm1', requestId: 'r1' },
      { messageId: 'm1', requestId: 'r1' },
      { messageId: 'x1', requestId: 'r2' },
      { messageId: 'x2', requestId: 'r2' },
    ]);
    expect(counts.duplicated).toBe(2);
    expect(counts.unexpected).toBe(0);
    expect(counts.indeterminateStored).toBe(1);
  });

  it('tells indeterminate-and-stored apart from unexpected', () => {
    const ledger = ledgerOf([
      ['r1', indeterminate()],
      ['r2', indeterminate()],
      ['r3', refused('HTTP_503')],
    ]);
    const counts = ledger.reconcile([
      { messageId: 'a', requestId: 'r1' },
      { messageId: 'b', requestId: 'r3' },
      { messageId: 'c', requestId: 'never-sent' },
      { messageId: 'd', requestId: null },
    ]);
    expect(counts).toMatchObject({
      indeterminate: 2,
      indeterminateStored: 1,
      unexpected: 3,
      indeterminateBy: { UND_ERR_SOCKET: 2 },
    });
  });

  it('flags a row stored under another id than the one acknowledged', () => {
    const counts = ledgerOf([['r1', ok('m1')]]).reconcile([{ messageId: 'other', requestId: 'r1' }]);
    expect(counts).toMatchObject({ lost: 1, unexpected: 1 });
  });

  it('counts webhook deliveries: undelivered, duplicates by message_id, ids storage does not know', () => {
    const ledger = ledgerOf([
      ['r1', ok('m1')],
      ['r2', ok('m2')],
      ['r3', ok('m3')],
    ]);
    const stored = [
      { messageId: 'm1', requestId: 'r1' },
      { messageId: 'm2', requestId: 'r2' },
      { messageId: 'm3', requestId: 'r3' },
    ];
    const counts = ledger.reconcile(stored, [
      { messageId: 'm1' },
      { messageId: 'm1' },
      { messageId: 'm1' },
      { messageId: 'm2' },
      { messageId: 'zz' },
    ]);
    expect(counts.delivery).toEqual({ undelivered: 1, deliveredDuplicates: 2, unknownDelivered: 1 });
  });

  it('refuses to record one request twice', () => {
    const ledger = ledgerOf([['r1', ok('m1')]]);
    expect(() => ledger.record({ requestId: 'r1', sentAt: 0, answeredAt: 0, outcome: refused() })).toThrow(/twice/);
    expect(ledger.acknowledgedIds()).toEqual(['m1']);
  });
});
