/**
 * The chaos ledger, counted the way Jepsen counts: every request sent is written down with
 * its outcome as the client saw it, and at the end (after recovery and drain) the ledger is
 * compared with what storage holds.
 *
 * Outcomes: `ok` (202 with a message_id), `refused` (an answer that is not 202, or a
 * connection that was refused before anything was sent: definitely not accepted), and
 * `indeterminate` (the connection died or timed out with the request on the wire: the
 * client cannot know). Each request carries its own id (sent in the message metadata), so
 * every stored row can be traced to the request that produced it.
 */

export type Outcome =
  | { kind: 'ok'; messageId: string }
  | { kind: 'refused'; code: string }
  | { kind: 'indeterminate'; code: string };

export interface LedgerEntry {
  requestId: string;
  sentAt: number;
  answeredAt: number;
  outcome: Outcome;
}

/** One row of the messages table: its message_id and the request id from its metadata. */
export interface StoredRow {
  messageId: string;
  requestId: string | null;
}

/** A downstream hit that was answered 2xx (the downstream has the message). */
export interface DeliveredHit {
  messageId: string;
}

export interface LedgerCounts {
  sent: number;
  acknowledged: number;
  refused: number;
  /** Acknowledged (202) but not in storage. */
  lost: number;
  /** Extra rows: the same message_id, or the same request, stored more than once. */
  duplicated: number;
  /** Stored, but never acknowledged and not indeterminate (or stored under another id than the one acknowledged). */
  unexpected: number;
  indeterminate: number;
  /** Indeterminate requests that did end up stored. */
  indeterminateStored: number;
  refusedBy: Record<string, number>;
  indeterminateBy: Record<string, number>;
  /** The acknowledged entries that were lost (for timing reports). */
  lostEntries: LedgerEntry[];
  /** Webhook targets only. */
  delivery?: { undelivered: number; deliveredDuplicates: number; unknownDelivered: number };
}

export class Ledger {
  private readonly entries = new Map<string, LedgerEntry>();

  record(entry: LedgerEntry): void {
    if (this.entries.has(entry.requestId)) throw new Error(`request ${entry.requestId} recorded twice`);
    this.entries.set(entry.requestId, entry);
  }

  get size(): number {
    return this.entries.size;
  }

  /** The message ids that got a 202. */
  acknowledgedIds(): string[] {
    const ids: string[] = [];
    for (const entry of this.entries.values()) if (entry.outcome.kind === 'ok') ids.push(entry.outcome.messageId);
    return ids;
  }

  /** Requests answered within [from, to): how many were acknowledged, and how many refused by each code. */
  answeredBetween(from: number, to: number): { acknowledged: number; refusedBy: Record<string, number> } {
    let acknowledged = 0;
    const refusedBy: Record<string, number> = {};
    for (const entry of this.entries.values()) {
      if (entry.answeredAt < from || entry.answeredAt >= to) continue;
      if (entry.outcome.kind === 'ok') acknowledged++;
      else if (entry.outcome.kind === 'refused')
        refusedBy[entry.outcome.code] = (refusedBy[entry.outcome.code] ?? 0) + 1;
    }
    return { acknowledged, refusedBy };
  }

  /** When the first 202 sent after `since` (unix ms) was answered; undefined while there is none. */
  firstAcknowledgedAfter(since: number): number | undefined {
    let first: number | undefined;
    for (const entry of this.entries.values())
      if (entry.outcome.kind === 'ok' && entry.sentAt >= since && (first === undefined || entry.answeredAt < first))
        first = entry.answeredAt;
    return first;
  }

  /** Compares the ledger with storage (and, for a webhook target, with what the downstream accepted). */
  reconcile(stored: readonly StoredRow[], delivered?: readonly DeliveredHit[]): LedgerCounts {
    const rowsByMessage = countBy(stored.map((r) => r.messageId));
    const rowsByRequest = new Map<string, StoredRow[]>();
    let duplicated = 0;
    let unexpected = 0;
    for (const count of rowsByMessage.values()) duplicated += count - 1;
    for (const row of stored) {
      if (row.requestId === null) {
        unexpected++;
        continue;
      }
      const rows = rowsByRequest.get(row.requestId) ?? [];
      rows.push(row);
      rowsByRequest.set(row.requestId, rows);
    }
    for (const [requestId, rows] of rowsByRequest) {
      const distinct = new Set(rows.map((r) => r.messageId));
      // One request stored under two message ids is a duplicate too (the same id twice is counted above).
      duplicated += distinct.size - 1;
      const entry = this.entries.get(requestId);
      if (!entry || entry.outcome.kind === 'refused') unexpected += distinct.size;
      else if (entry.outcome.kind === 'ok') {
        const acknowledgedId = entry.outcome.messageId;
        for (const id of distinct) if (id !== acknowledgedId) unexpected++;
      }
    }

    const counts: LedgerCounts = {
      sent: this.entries.size,
      acknowledged: 0,
      refused: 0,
      lost: 0,
      duplicated,
      unexpected,
      indeterminate: 0,
      indeterminateStored: 0,
      refusedBy: {},
      indeterminateBy: {},
      lostEntries: [],
    };
    for (const entry of this.entries.values()) {
      const outcome = entry.outcome;
      if (outcome.kind === 'ok') {
        counts.acknowledged++;
        if (!rowsByMessage.has(outcome.messageId)) {
          counts.lost++;
          counts.lostEntries.push(entry);
        }
      } else if (outcome.kind === 'refused') {
        counts.refused++;
        counts.refusedBy[outcome.code] = (counts.refusedBy[outcome.code] ?? 0) + 1;
      } else {
        counts.indeterminate++;
        counts.indeterminateBy[outcome.code] = (counts.indeterminateBy[outcome.code] ?? 0) + 1;
        if (rowsByRequest.has(entry.requestId)) counts.indeterminateStored++;
      }
    }
    if (delivered) counts.delivery = reconcileDelivery(stored, delivered, this.acknowledgedIds());
    return counts;
  }
}

function reconcileDelivery(
  stored: readonly StoredRow[],
  delivered: readonly DeliveredHit[],
  acknowledged: string[],
): NonNullable<LedgerCounts['delivery']> {
  const hits = countBy(delivered.map((d) => d.messageId));
  const storedIds = new Set(stored.map((r) => r.messageId));
  let deliveredDuplicates = 0;
  let unknownDelivered = 0;
  for (const [id, count] of hits) {
    deliveredDuplicates += count - 1;
    // Downstream got an id that storage does not know: it was not carried with the same message_id.
    if (!storedIds.has(id)) unknownDelivered++;
  }
  return { undelivered: acknowledged.filter((id) => !hits.has(id)).length, deliveredDuplicates, unknownDelivered };
}

function countBy(values: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const value of values) counts.set(value, (counts.get(value) ?? 0) + 1);
  return counts;
}
