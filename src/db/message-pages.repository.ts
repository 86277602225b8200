/**
 * The portal's reads of `messages`: keyset pages, newest first, on (created_at, id).
 *
 * Each page is one index range scan of at most `limit + 1` rows whatever the table size:
 * `messages_client_created_idx` (client_id, created_at, id) for a user,
 * `messages_domain_created_idx` (domain, created_at, id) for an admin, and with a status
 * filter `messages_status_domain_created_idx` (InnoDB appends the primary key `id` to every
 * secondary index, so it orders by (created_at, id) too). "Every domain" runs one such
 * scan per domain and merges: no index spans domains, and a filesort over all rows would
 * grow with the table. OFFSET is never used: page 1000 costs what page 1 costs.
 */
import { and, asc, count, desc, eq, gt, gte, inArray, lt, or, sql } from './drizzle.js';
import type { SQL } from 'drizzle-orm';
import type { Database } from './database.js';
import { clients, messages } from './schema.js';
import type { MessageRow, MessageStatus } from './schema.js';

/** Where in the (created_at, id) order a page starts. */
export interface MessageCursor {
  createdAt: Date;
  id: number;
}

export interface MessagePageFilter {
  /** One client (a user's view) … */
  clientId?: number;
  /** … or one domain; neither: every domain. */
  domain?: string;
  status?: MessageStatus;
  /** created_at ≥ from */
  from?: Date;
  /** created_at < to */
  to?: Date;
  /** Any of these sender hashes (one per pepper). */
  senderHashes?: readonly string[];
}

export interface MessagePageRequest {
  limit: number;
  /** Older than this (the "next" page) … */
  before?: MessageCursor;
  /** … or newer than this (the "previous" page). */
  after?: MessageCursor;
}

/** The columns a list or detail view needs: no sender hash, no encrypted number. */
const listColumns = {
  id: messages.id,
  message_id: messages.message_id,
  client_id: messages.client_id,
  domain: messages.domain,
  sender_masked: messages.sender_masked,
  body_enc: messages.body_enc,
  metadata: messages.metadata,
  status: messages.status,
  attempt_count: messages.attempt_count,
  last_error: messages.last_error,
  created_at: messages.created_at,
  queued_at: messages.queued_at,
  delivered_at: messages.delivered_at,
  next_attempt_at: messages.next_attempt_at,
  target: messages.target,
  route: messages.route,
};

export type MessageListRow = Pick<MessageRow, keyof typeof listColumns>;

export interface MessagePage {
  rows: MessageListRow[];
  /** More rows exist beyond the page in the direction it was read. */
  more: boolean;
}

export class MessagePagesRepository {
  constructor(private readonly db: Database) {}

  /** One page, newest first. `more` says whether rows lie beyond it (older for `before`, newer for `after`). */
  async page(filter: MessagePageFilter, request: MessagePageRequest): Promise<MessagePage> {
    const domains =
      filter.clientId === undefined && filter.domain === undefined ? await this.domains() : [filter.domain];
    // One ordered scan per domain and per sender hash (a number hashed under each pepper):
    // each reads a range in (created_at, id) order, and the merge below keeps that order.
    const hashes: Array<string | undefined> =
      filter.senderHashes === undefined ? [undefined] : [...new Set(filter.senderHashes)];
    if (hashes.length === 0) return { rows: [], more: false };
    const scans = domains.flatMap((domain) =>
      hashes.map((hash) => ({ ...filter, ...(domain === undefined ? {} : { domain }), senderHash: hash })),
    );
    const parts = await Promise.all(scans.map((one) => this.scan(one, request)));
    const newerFirst = request.after === undefined;
    const merged = parts.flat().sort((a, b) => compareKeys(b, a) * (newerFirst ? 1 : -1));
    const more = merged.length > request.limit;
    const rows = merged.slice(0, request.limit);
    if (!newerFirst) rows.reverse();
    return { rows, more };
  }

  /** A message if it lies inside the filter's client or domain; undefined otherwise (the caller answers 404). */
  async findVisible(
    messageId: string,
    filter: Pick<MessagePageFilter, 'clientId' | 'domain'>,
  ): Promise<MessageListRow | undefined> {
    const [row] = await this.db
      .select(listColumns)
      .from(messages)
      .where(and(eq(messages.message_id, messageId), ...scopeConditions(filter)))
      .limit(1);
    return row;
  }

  /** Messages received since `since`, by status (an index range scan per domain). */
  async countSince(since: Date, domain?: string): Promise<Record<MessageStatus, number>> {
    const rows = await this.db
      .select({ status: messages.status, n: count() })
      .from(messages)
      .where(and(gte(messages.created_at, since), domain === undefined ? undefined : eq(messages.domain, domain)))
      .groupBy(messages.status);
    const counts: Record<MessageStatus, number> = { queued: 0, delivered: 0, failed: 0 };
    for (const row of rows) counts[row.status] = row.n;
    return counts;
  }

  /** Every domain that has a client (messages only come from clients). */
  async domains(): Promise<string[]> {
    const rows = await this.db.selectDistinct({ domain: clients.domain }).from(clients).orderBy(asc(clients.domain));
    return rows.map((r) => r.domain);
  }

  /**
   * Two steps ("deferred join"): the page's ids from the index alone, then those rows by
   * primary key. Asked for the wide rows directly, MariaDB 10.11 trades the range scan
   * on (client_id|domain, created_at, id) for a plain ref on the first column and walks
   * every newer row to reach a page deep in the table (≈ 40–400 ms at 100k rows); asked
   * for ids only, it reads the range from the covering index (< 1 ms). For the same
   * reason a client's page names client_id alone (a client lies in one domain): the
   * domain, not being in that index, would break the range too. It is checked in step 2.
   */
  private async scan(
    filter: MessagePageFilter & { senderHash: string | undefined },
    request: MessagePageRequest,
  ): Promise<MessageListRow[]> {
    const conditions: Array<SQL | undefined> =
      filter.clientId === undefined ? [...scopeConditions(filter)] : [eq(messages.client_id, filter.clientId)];
    if (filter.status !== undefined) conditions.push(eq(messages.status, filter.status));
    if (filter.from !== undefined) conditions.push(gte(messages.created_at, filter.from));
    if (filter.to !== undefined) conditions.push(lt(messages.created_at, filter.to));
    if (filter.senderHash !== undefined) conditions.push(eq(messages.sender_hash, filter.senderHash));
    const newerFirst = request.after === undefined;
    const cursor = request.before ?? request.after;
    if (cursor !== undefined) conditions.push(keysetCondition(cursor, newerFirst ? 'older' : 'newer'));
    const order = newerFirst
      ? [desc(messages.created_at), desc(messages.id)]
      : [asc(messages.created_at), asc(messages.id)];
    // By sender: walk that sender's messages newest first (sender_hash, created_at, id) and
    // keep the scope's, rather than a busy client's or domain's messages looking for the sender's.
    const hint = filter.senderHash !== undefined ? { forceIndex: 'messages_sender_created_idx' } : undefined;
    const keys = await this.db
      .select({ id: messages.id })
      .from(messages, hint)
      .where(and(...conditions))
      .orderBy(...order)
      .limit(request.limit + 1);
    if (keys.length === 0) return [];
    const rows = await this.db
      .select(listColumns)
      .from(messages)
      .where(
        and(
          inArray(
            messages.id,
            keys.map((k) => k.id),
          ),
          ...scopeConditions(filter),
        ),
      );
    const byId = new Map(rows.map((r) => [r.id, r]));
    return keys.map((k) => byId.get(k.id)).filter((r): r is MessageListRow => r !== undefined);
  }
}

function scopeConditions(filter: Pick<MessagePageFilter, 'clientId' | 'domain'>): SQL[] {
  const out: SQL[] = [];
  if (filter.clientId !== undefined) out.push(eq(messages.client_id, filter.clientId));
  if (filter.domain !== undefined) out.push(eq(messages.domain, filter.domain));
  return out;
}

/**
 * (created_at, id) strictly before or after the cursor, written so the optimizer sees a
 * range on created_at (`created_at <= c AND (created_at < c OR id < i)`) it can seek to.
 */
function keysetCondition(cursor: MessageCursor, side: 'older' | 'newer'): SQL {
  if (side === 'older') {
    return and(
      sql`${messages.created_at} <= ${sql.param(cursor.createdAt, messages.created_at)}`,
      or(lt(messages.created_at, cursor.createdAt), lt(messages.id, cursor.id)),
    )!;
  }
  return and(
    sql`${messages.created_at} >= ${sql.param(cursor.createdAt, messages.created_at)}`,
    or(gt(messages.created_at, cursor.createdAt), gt(messages.id, cursor.id)),
  )!;
}

function compareKeys(a: MessageListRow, b: MessageListRow): number {
  return a.created_at.getTime() - b.created_at.getTime() || a.id - b.id;
}
