/**
 * Deleting messages in bounded batches: the retention purge (rows of a domain older than a
 * cutoff) and the erasure of one client's messages. Each batch selects ids through an index
 * and deletes exactly those, so one statement never locks more than `limit` rows and the
 * caller knows what each batch removed (and which of them were still waiting for delivery).
 */
import { and, asc, count, eq, inArray, lt, ne } from './drizzle.js';
import type { Database } from './database.js';
import { messages } from './schema.js';
import type { MessageStatus } from './schema.js';

export interface DoomedRow {
  id: number;
  message_id: string;
  status: MessageStatus;
}

export class RetentionRepository {
  constructor(private readonly db: Database) {}

  /** The oldest rows of `domain` created before `cutoff` (index domain, created_at, id). */
  async selectExpired(domain: string, cutoff: Date, limit: number): Promise<DoomedRow[]> {
    return this.db
      .select({ id: messages.id, message_id: messages.message_id, status: messages.status })
      .from(messages)
      .where(and(eq(messages.domain, domain), lt(messages.created_at, cutoff)))
      .orderBy(asc(messages.created_at), asc(messages.id))
      .limit(limit);
  }

  /**
   * Rows of one client (index client_id, created_at, id); without `includePending`, rows
   * still waiting for delivery (status queued) are left out.
   */
  async selectForClient(clientId: number, limit: number, includePending: boolean): Promise<DoomedRow[]> {
    return this.db
      .select({ id: messages.id, message_id: messages.message_id, status: messages.status })
      .from(messages)
      .where(and(eq(messages.client_id, clientId), includePending ? undefined : ne(messages.status, 'queued')))
      .orderBy(asc(messages.created_at), asc(messages.id))
      .limit(limit);
  }

  async countPendingForClient(clientId: number): Promise<number> {
    const [row] = await this.db
      .select({ n: count() })
      .from(messages)
      .where(and(eq(messages.client_id, clientId), eq(messages.status, 'queued')));
    return row?.n ?? 0;
  }

  async deleteByIds(ids: readonly number[]): Promise<number> {
    if (ids.length === 0) return 0;
    const [result] = await this.db.delete(messages).where(inArray(messages.id, [...ids]));
    return result.affectedRows;
  }
}
