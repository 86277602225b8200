/**
 * The `messages` table: the durable record of every accepted message. Writers are the
 * storage actor (batched inserts from the stream) and the delivery actor (outcomes);
 * readers are the portal and the API's status lookups.
 */
import { and, count, eq, getTableColumns, inArray, ne, sql } from './drizzle.js';
import type { SQL } from 'drizzle-orm';
import type { MySqlUpdateSetSource } from 'drizzle-orm/mysql-core';
import type { ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import type { Database } from './database.js';
import { messages } from './schema.js';
import type { MessageRow, MessageStatus, NewMessageRow } from './schema.js';

export interface AttemptFailure {
  message_id: string;
  error: string;
  /** No attempt will follow: the message becomes 'failed'. */
  final: boolean;
  next_attempt_at: Date | null;
}

export type StatusCounts = Record<MessageStatus, number>;

/** A row as webhook delivery needs it: with its client's CN (`name.domain`). */
export type DeliveryRow = MessageRow & { client_cn: string };

const LAST_ERROR_MAX = 512;
// Ids per UPDATE: keeps statements far below max_allowed_packet (16 MiB by default)
// even when every row carries a 512-character error.
const UPDATE_CHUNK = 1000;
// Prepared INSERTs (see insertBatch). A batch goes as one statement whose size is the
// full store batch or the next bucket size up to 256 (37 rows: the 40-row statement, the
// last row repeated 3 times — a repeated row is a no-op of ON DUPLICATE KEY UPDATE).
// One round trip whatever the size, and a connection holds at most sixteen statements
// however batch sizes vary: MariaDB keeps ≈ 7 KiB per row of placeholders of a prepared
// statement (measured: 3.6 MiB for 500 rows; ≈ 6.6 MiB for all the buckets together), and
// `max_prepared_stmt_count` (16,382 by default) counts them for every client of the
// server. Splitting every batch into exact chunk sizes instead cost a round trip per chunk
// plus BEGIN and COMMIT; but a repeated row costs MariaDB as much as a new one, and the
// client a value conversion per column, so the buckets are 8 rows apart up to 64, where
// store batches settle under a steady load (≈ 45–55 entries: at most 7 repeats instead
// of up to 31 with powers of two), and a batch that would be padded by more than
// SPLIT_PADDING_ROWS is split once or twice at the sizes below it (statementChunks: 130
// rows go as 128 + 2, not as 192).
const BUCKET_ROWS = [1, 2, 4, 8, 16, 24, 32, 40, 48, 56, 64, 96, 128, 192, 256] as const;
// Padding a statement by more rows than this costs MariaDB more than sending the batch as
// two statements in one transaction (statementChunks).
const SPLIT_PADDING_ROWS = 32;
const DEADLOCK_ATTEMPTS = 3;
const DEFAULT_FULL_BATCH_ROWS = 500;
// A statement is also cut before it nears max_allowed_packet (16 MiB by default): 500
// envelopes near the 64 KiB BLOB limit would not fit in one.
const INSERT_MAX_BYTES = 8 * 1024 * 1024;
const ROW_OVERHEAD_BYTES = 200;

// drizzle's schema names the columns; the statement itself is written here because
// drizzle only builds text statements with every value escaped into them.
const INSERT_COLUMNS = [
  messages.message_id,
  messages.client_id,
  messages.domain,
  messages.sender_hash,
  messages.pepper_id,
  messages.sender_masked,
  messages.sender_enc,
  messages.body_enc,
  messages.key_id,
  messages.metadata,
  messages.status,
  messages.attempt_count,
  messages.queued_at,
  messages.delivered_at,
  messages.next_attempt_at,
  messages.created_at,
  messages.target,
  messages.route,
  messages.route_match,
].map((column) => column.name);
const ROW_PLACEHOLDERS = `(${INSERT_COLUMNS.map(() => '?').join(', ')})`;
// The protocol numbers a statement's placeholders with 16 bits.
const MAX_STATEMENT_ROWS = Math.floor(65_535 / INSERT_COLUMNS.length);
const insertStatements = new Map<number, string>();

/**
 * The INSERT of `rows` rows. Idempotent on message_id: a row already stored (re-read from
 * the stream after a crash) stays as it is. Not INSERT IGNORE, which would also turn a
 * bad value (a truncated string, an invalid date) into a warning and store the row.
 */
function insertStatement(rows: number): string {
  let statement = insertStatements.get(rows);
  if (statement === undefined) {
    statement = `INSERT INTO messages (${INSERT_COLUMNS.join(', ')}) VALUES ${Array(rows).fill(ROW_PLACEHOLDERS).join(', ')} ON DUPLICATE KEY UPDATE message_id = message_id`;
    insertStatements.set(rows, statement);
  }
  return statement;
}

export interface MessagesRepositoryOptions {
  /**
   * Rows of a full store batch (`delivery.batch_size`): a batch of that size is sent as
   * one statement. At most 4,095 (65,535 placeholders).
   * @defaultValue 500
   */
  fullBatchRows?: number;
}

export class MessagesRepository {
  private readonly fullBatchRows: number;

  constructor(
    private readonly db: Database,
    options: MessagesRepositoryOptions = {},
  ) {
    this.fullBatchRows = Math.min(options.fullBatchRows ?? DEFAULT_FULL_BATCH_ROWS, MAX_STATEMENT_ROWS);
  }

  /**
   * Stores a batch in one transaction, idempotent on message_id: a row already stored,
   * e.g. re-read from the stream after a crash, is left untouched.
   *
   * The storage hot path. Prepared statements over the binary protocol (`execute`): the
   * values travel as they are, buffers as raw bytes, where a text INSERT escapes every
   * value into the statement and sends each envelope as hex. Under load every batch is
   * full; a smaller one is padded to the next prepared size, or split at the prepared
   * sizes below it where the padding would cost more (bench/insert-cost.ts).
   */
  async insertBatch(rows: readonly NewMessageRow[]): Promise<void> {
    if (rows.length === 0) return;
    // created_at is when the row is stored, unless the caller sets it (imports, tests).
    const now = new Date();
    const values = rows.map((row) => insertValues(row, now));
    const runs = statementRuns(values, this.fullBatchRows).flatMap((run) => statementChunks(run, this.fullBatchRows));
    // Two batches with rows in common (a replay racing the first store of the same
    // entries) can deadlock on the unique key; InnoDB rolls one back whole, so it is safe
    // to run again, as the error says.
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.insertRuns(values, runs);
      } catch (error) {
        if ((error as { code?: string }).code !== 'ER_LOCK_DEADLOCK' || attempt >= DEADLOCK_ATTEMPTS) throw error;
      }
    }
  }

  private async insertRuns(values: readonly InsertValues[], runs: readonly number[]): Promise<void> {
    // One commit (one redo log flush) for the batch, whatever the number of statements.
    const transaction = runs.length > 1;
    const connection = await this.db.$client.getConnection();
    let reusable = true;
    try {
      if (transaction) await connection.query('BEGIN');
      let offset = 0;
      for (const run of runs) {
        const slice = values.slice(offset, offset + run);
        const size = statementRows(run, this.fullBatchRows);
        // Padded with the last row: ON DUPLICATE KEY UPDATE makes each repeat a no-op.
        for (let i = run; i < size; i++) slice.push(slice[run - 1]!);
        await connection.execute(insertStatement(size), slice.flat() as never);
        offset += run;
      }
      if (transaction) await connection.query('COMMIT');
    } catch (error) {
      // A connection whose transaction may still be open must not go back to the pool.
      if (transaction) await connection.query('ROLLBACK').catch(() => void (reusable = false));
      throw error;
    } finally {
      if (reusable) connection.release();
      else connection.destroy();
    }
  }

  /** Marks messages delivered; ones already delivered keep their first delivered_at. */
  async markDelivered(messageIds: readonly string[], at: Date): Promise<number> {
    return this.updateNotDelivered(messageIds, {
      status: 'delivered',
      delivered_at: at,
      next_attempt_at: null,
    });
  }

  /**
   * Counts a successful attempt and marks the messages delivered: every settled batch of
   * a webhook or amqp target, so a prepared statement per id-list size (padded with the
   * last id, which `IN` ignores) rather than a query built per batch — drizzle's builder
   * and mysql2's escaping were ≈ 11 % of the delivery actor's time on the webhook path.
   */
  async recordAttemptSuccess(messageIds: readonly string[], at: Date): Promise<number> {
    let affected = 0;
    for (const ids of paddedIdLists(messageIds)) {
      const [result] = await this.db.$client.execute<ResultSetHeader>(successStatement(ids.length), [at, ...ids]);
      affected += result.affectedRows;
    }
    return affected;
  }

  /**
   * Counts a failed attempt per message, with its own error and next attempt time, in one
   * UPDATE per chunk (CASE on message_id). A message already delivered is left alone: a
   * late failure report from a duplicate delivery must not undo a success.
   */
  async recordAttemptFailures(failures: readonly AttemptFailure[]): Promise<number> {
    // The last report for a message wins if a batch names it twice.
    const unique = [...new Map(failures.map((f) => [f.message_id, f])).values()];
    let affected = 0;
    for (const chunk of chunks(unique, UPDATE_CHUNK)) {
      const ids = chunk.map((f) => f.message_id);
      const finalIds = chunk.filter((f) => f.final).map((f) => f.message_id);
      const errorCase = caseOnMessageId(chunk, (f) => sql`${truncate(f.error, LAST_ERROR_MAX)}`);
      const nextCase = caseOnMessageId(chunk, (f) =>
        f.next_attempt_at === null ? sql`NULL` : sql`${sql.param(f.next_attempt_at, messages.next_attempt_at)}`,
      );
      const set = {
        attempt_count: sql`${messages.attempt_count} + 1`,
        last_error: errorCase,
        next_attempt_at: nextCase,
        ...(finalIds.length > 0
          ? {
              status: sql`CASE WHEN ${inArray(messages.message_id, finalIds)} THEN 'failed' ELSE ${messages.status} END`,
            }
          : {}),
      };
      const [result] = await this.db
        .update(messages)
        .set(set)
        .where(and(inArray(messages.message_id, ids), ne(messages.status, 'delivered')));
      affected += result.affectedRows;
    }
    return affected;
  }

  /** Fails messages without another attempt (too old to be worth one). */
  async expire(messageIds: readonly string[], error: string): Promise<number> {
    if (messageIds.length === 0) return 0;
    const [result] = await this.db
      .update(messages)
      .set({ status: 'failed', last_error: truncate(error, LAST_ERROR_MAX), next_attempt_at: null })
      .where(and(inArray(messages.message_id, [...messageIds]), eq(messages.status, 'queued')));
    return result.affectedRows;
  }

  /** Redrive: failed messages get a fresh set of attempts, due at `at` (their age counted from then). */
  async requeue(messageIds: readonly string[], at: Date): Promise<number> {
    if (messageIds.length === 0) return 0;
    const [result] = await this.db
      .update(messages)
      .set({ status: 'queued', attempt_count: 0, next_attempt_at: at, requeued_at: at })
      .where(and(inArray(messages.message_id, [...messageIds]), eq(messages.status, 'failed')));
    return result.affectedRows;
  }

  async findByMessageIds(messageIds: readonly string[]): Promise<MessageRow[]> {
    if (messageIds.length === 0) return [];
    return this.db
      .select()
      .from(messages)
      .where(inArray(messages.message_id, [...messageIds]));
  }

  /**
   * The rows to deliver, each with its client's CN: the payload names the client as every
   * other surface does, never by its database id. A left join so that a message is never
   * lost to a missing client row (clients are never deleted; the id then stands in).
   *
   * Every claimed batch of a webhook or amqp target reads its rows here, so a prepared
   * statement per id-list size (padded with the last id, which `IN` ignores) read over the
   * binary protocol, as `recordAttemptSuccess` does: drizzle's builder, its text-protocol
   * rows and its row mapping were ≈ 7 % of the delivery actor's garbage on the webhook path.
   */
  async findForDelivery(messageIds: readonly string[]): Promise<DeliveryRow[]> {
    const rows: DeliveryRow[] = [];
    for (const ids of paddedIdLists(messageIds)) {
      const [raw] = await this.db.$client.execute<RowDataPacket[]>(deliveryStatement(ids.length), ids);
      for (const row of raw) rows.push(deliveryRowOf(row));
    }
    return rows;
  }

  async findOne(messageId: string): Promise<MessageRow | undefined> {
    const [row] = await this.db.select().from(messages).where(eq(messages.message_id, messageId)).limit(1);
    return row;
  }

  async countByStatus(domain?: string): Promise<StatusCounts> {
    const rows = await this.db
      .select({ status: messages.status, n: count() })
      .from(messages)
      .where(domain === undefined ? undefined : eq(messages.domain, domain))
      .groupBy(messages.status);
    const counts: StatusCounts = { queued: 0, delivered: 0, failed: 0 };
    for (const row of rows) counts[row.status] = row.n;
    return counts;
  }

  async countAll(): Promise<number> {
    const [row] = await this.db.select({ n: count() }).from(messages);
    return row?.n ?? 0;
  }

  /**
   * A dead-lettered message gets one more attempt (portal "retry"): `failed` → `queued`,
   * due at `at`. False when the message is not failed (already retried, or delivered).
   */
  async requeueFailed(messageId: string, at: Date): Promise<boolean> {
    const [result] = await this.db
      .update(messages)
      .set({ status: 'queued', next_attempt_at: at, requeued_at: at })
      .where(and(eq(messages.message_id, messageId), eq(messages.status, 'failed')));
    return result.affectedRows > 0;
  }

  /** Undoes `requeueFailed` when the retry could not be scheduled. */
  async restoreFailed(messageId: string): Promise<void> {
    await this.db
      .update(messages)
      .set({ status: 'failed', next_attempt_at: null })
      .where(and(eq(messages.message_id, messageId), eq(messages.status, 'queued')));
  }

  private async updateNotDelivered(
    messageIds: readonly string[],
    set: MySqlUpdateSetSource<typeof messages>,
  ): Promise<number> {
    let affected = 0;
    for (const ids of chunks(messageIds, UPDATE_CHUNK)) {
      const [result] = await this.db
        .update(messages)
        .set(set)
        .where(and(inArray(messages.message_id, ids), ne(messages.status, 'delivered')));
      affected += result.affectedRows;
    }
    return affected;
  }
}

function caseOnMessageId(list: readonly AttemptFailure[], value: (f: AttemptFailure) => SQL): SQL {
  const whens = list.map((f) => sql`WHEN ${f.message_id} THEN ${value(f)}`);
  return sql`CASE ${messages.message_id} ${sql.join(whens, sql` `)} END`;
}

/** Id-list sizes of the prepared success UPDATE: a few statements serve every batch size. */
// Id-list sizes of the prepared statements that take a list of message ids.
const ID_BUCKETS = [1, 4, 16, 64, 256] as const;

/**
 * The distinct ids in lists of a prepared size (ID_BUCKETS), each padded with its last id,
 * which `IN` ignores: one statement per size whatever the batch.
 */
function paddedIdLists(messageIds: readonly string[]): string[][] {
  return chunks([...new Set(messageIds)], ID_BUCKETS.at(-1)!).map((ids) => {
    const size = ID_BUCKETS.find((bucket) => bucket >= ids.length)!;
    while (ids.length < size) ids.push(ids.at(-1)!);
    return ids;
  });
}
const successStatements = new Map<number, string>();

function successStatement(ids: number): string {
  let statement = successStatements.get(ids);
  if (!statement) {
    statement =
      "UPDATE messages SET status = 'delivered', delivered_at = ?, next_attempt_at = NULL, " +
      `attempt_count = attempt_count + 1 WHERE message_id IN (${Array(ids).fill('?').join(', ')}) ` +
      "AND status <> 'delivered'";
    successStatements.set(ids, statement);
  }
  return statement;
}

const MESSAGE_COLUMNS = Object.values(getTableColumns(messages)).map((column) => column.name);
const deliveryStatements = new Map<number, string>();

function deliveryStatement(ids: number): string {
  let statement = deliveryStatements.get(ids);
  if (!statement) {
    statement =
      `SELECT ${MESSAGE_COLUMNS.map((name) => `m.${name}`).join(', ')}, c.name AS client_name, c.domain AS client_domain ` +
      `FROM messages m LEFT JOIN clients c ON c.id = m.client_id WHERE m.message_id IN (${Array(ids).fill('?').join(', ')})`;
    deliveryStatements.set(ids, statement);
  }
  return statement;
}

/**
 * A row read over the binary protocol as drizzle would map it: DATETIME already a Date in
 * UTC (the pool's `timezone: 'Z'`), binaries already Buffers; the JSON text parsed, the
 * BIGINT id a number. Listing every column makes a new one a compile error here.
 */
function deliveryRowOf(raw: RowDataPacket): DeliveryRow {
  const metadata = raw.metadata as unknown;
  return {
    id: Number(raw.id),
    message_id: raw.message_id,
    client_id: raw.client_id,
    domain: raw.domain,
    sender_hash: raw.sender_hash,
    pepper_id: raw.pepper_id,
    sender_masked: raw.sender_masked,
    sender_enc: raw.sender_enc,
    body_enc: raw.body_enc,
    key_id: raw.key_id,
    metadata: (typeof metadata === 'string' ? JSON.parse(metadata) : (metadata ?? null)) as MessageRow['metadata'],
    status: raw.status,
    attempt_count: raw.attempt_count,
    last_error: raw.last_error,
    created_at: raw.created_at,
    queued_at: raw.queued_at,
    delivered_at: raw.delivered_at,
    next_attempt_at: raw.next_attempt_at,
    target: raw.target,
    route: raw.route,
    route_match: raw.route_match,
    requeued_at: raw.requeued_at,
    client_cn:
      raw.client_name !== null && raw.client_domain !== null
        ? `${raw.client_name}.${raw.client_domain}`
        : String(raw.client_id),
  };
}

function chunks<T>(list: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}

type InsertValues = ReturnType<typeof insertValues>;

/** In INSERT_COLUMNS order; mysql2 refuses `undefined`, so every optional value has its default. */
function insertValues(row: NewMessageRow, now: Date) {
  return [
    row.message_id,
    row.client_id,
    row.domain,
    row.sender_hash,
    row.pepper_id,
    row.sender_masked,
    row.sender_enc,
    row.body_enc,
    row.key_id,
    row.metadata == null ? null : JSON.stringify(row.metadata),
    row.status ?? 'queued',
    row.attempt_count ?? 0,
    row.queued_at,
    row.delivered_at ?? null,
    row.next_attempt_at ?? null,
    row.created_at ?? now,
    row.target ?? 'default',
    row.route ?? null,
    row.route_match ?? null,
  ] as const;
}

/**
 * Rows per statement: the whole batch, unless it is longer than the largest statement or
 * its envelopes would near max_allowed_packet (then several statements, one transaction).
 */
function statementRuns(rows: readonly InsertValues[], fullRows: number): number[] {
  const longest = Math.max(fullRows, BUCKET_ROWS.at(-1)!);
  const runs: number[] = [];
  let run = 0;
  let bytes = 0;
  for (const [, , , , , , senderEnc, bodyEnc, , metadata] of rows) {
    // metadata is JSON text: up to four bytes a character in UTF-8.
    const size = ROW_OVERHEAD_BYTES + bodyEnc.length + senderEnc.length + 4 * (metadata?.length ?? 0);
    if (run === longest || (run > 0 && bytes + size > INSERT_MAX_BYTES)) {
      runs.push(run);
      run = 0;
      bytes = 0;
    }
    run++;
    bytes += size;
  }
  if (run > 0) runs.push(run);
  return runs;
}

/**
 * A run as the prepared sizes it is sent in: one statement when padding it costs at most
 * SPLIT_PADDING_ROWS rows, else the largest prepared size below it and the rest likewise
 * (129 rows: 128 + 1, not 256 with 127 repeats). MariaDB pays a repeated row as much as a
 * new one (bench/insert-cost.ts: 129 rows padded to 256 cost the server 2× what 128 did),
 * while a statement more costs a round trip and the batch a transaction (BEGIN, COMMIT).
 */
function statementChunks(run: number, fullRows: number): number[] {
  const chunks: number[] = [];
  let left = run;
  while (left > 0) {
    const padding = statementRows(left, fullRows) - left;
    const below = BUCKET_ROWS.findLast((rows) => rows < left);
    if (padding <= SPLIT_PADDING_ROWS || below === undefined) {
      chunks.push(left);
      break;
    }
    chunks.push(below);
    left -= below;
  }
  return chunks;
}

/** The prepared statement's rows for a run: the full batch, or the next bucket size (else the run itself). */
function statementRows(run: number, fullRows: number): number {
  if (run === fullRows) return run;
  const bucket = BUCKET_ROWS.find((rows) => rows >= run);
  if (bucket !== undefined) return bucket;
  return Math.max(run, fullRows);
}

// Cuts by code point so a surrogate pair is never split into invalid UTF-16.
function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  return Array.from(text).slice(0, max).join('');
}
