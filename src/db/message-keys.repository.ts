/**
 * The `messages` columns that name a secret — key_id (data key of body_enc and sender_enc)
 * and pepper_id (HMAC pepper of sender_hash) — as key rotation sees them: how many rows
 * each id still has, pages of rows under an old id (keyset pagination on id), and
 * optimistic rewrites that only touch a row still under the id it was read with.
 */
import { and, asc, count, eq, gt } from './drizzle.js';
import type { ResultSetHeader } from 'mysql2/promise';
import type { Database } from './database.js';
import { messages } from './schema.js';

export interface SealedRow {
  id: number;
  message_id: string;
  body_enc: Buffer;
  sender_enc: Buffer;
}

export type IdColumn = 'key_id' | 'pepper_id';

export class MessageKeysRepository {
  constructor(private readonly db: Database) {}

  /**
   * Rows per id: a scan of the table. Neither key_id nor pepper_id is indexed, since every
   * stored message would pay for the index and only `mb keys status`, the start of a
   * rotation and retirement ask (the rewrite itself never needs it, see `pageUnder`).
   */
  async countById(column: IdColumn): Promise<Record<string, number>> {
    const col = messages[column];
    const rows = await this.db.select({ id: col, n: count() }).from(messages).groupBy(col);
    return Object.fromEntries(rows.map((r) => [r.id, r.n]));
  }

  /** True when at least one row still names `id` (stops at the first; scans the table when none does). */
  async isReferenced(column: IdColumn, id: string): Promise<boolean> {
    const rows = await this.db.select({ id: messages.id }).from(messages).where(eq(messages[column], id)).limit(1);
    return rows.length > 0;
  }

  /**
   * The next rows under `id` after row `afterId`, in id order (a primary key range). Each
   * row is visited once per pass, so without an index on the id column a whole
   * re-encryption or re-hash costs one table scan per old id.
   */
  async pageUnder(column: IdColumn, id: string, afterId: number, limit: number): Promise<SealedRow[]> {
    return this.db
      .select({
        id: messages.id,
        message_id: messages.message_id,
        body_enc: messages.body_enc,
        sender_enc: messages.sender_enc,
      })
      .from(messages)
      .where(and(eq(messages[column], id), gt(messages.id, afterId)))
      .orderBy(asc(messages.id))
      .limit(limit);
  }

  /**
   * Re-encrypted envelopes, one UPDATE for the page. `AND key_id = from` makes it
   * optimistic: a row rewritten (or purged) since it was read is left alone. Raw mysql2,
   * like the bulk insert: drizzle's builder costs several times more for 1,000 blobs.
   */
  async replaceEnvelopes(
    rows: ReadonlyArray<{ id: number; body_enc: Buffer; sender_enc: Buffer }>,
    from: string,
    to: string,
  ): Promise<number> {
    if (rows.length === 0) return 0;
    const cases = rows.map(() => 'WHEN ? THEN ?').join(' ');
    const [result] = await this.db.$client.query<ResultSetHeader>(
      `UPDATE messages SET body_enc = CASE id ${cases} END, sender_enc = CASE id ${cases} END, key_id = ? WHERE id IN (?) AND key_id = ?`,
      [
        ...rows.flatMap((r) => [r.id, r.body_enc]),
        ...rows.flatMap((r) => [r.id, r.sender_enc]),
        to,
        rows.map((r) => r.id),
        from,
      ],
    );
    return result.affectedRows;
  }

  /** New sender hashes under pepper `to`, optimistic on `pepper_id = from` like replaceEnvelopes. */
  async replaceHashes(
    rows: ReadonlyArray<{ id: number; sender_hash: string }>,
    from: string,
    to: string,
  ): Promise<number> {
    if (rows.length === 0) return 0;
    const cases = rows.map(() => 'WHEN ? THEN ?').join(' ');
    const [result] = await this.db.$client.query<ResultSetHeader>(
      `UPDATE messages SET sender_hash = CASE id ${cases} END, pepper_id = ? WHERE id IN (?) AND pepper_id = ?`,
      [...rows.flatMap((r) => [r.id, r.sender_hash]), to, rows.map((r) => r.id), from],
    );
    return result.affectedRows;
  }
}
