/**
 * What storing a batch of messages costs, by way of sending it to MariaDB: the escaped
 * text INSERT (mysql2 `query` with `VALUES ?`, what insertBatch sent before), a prepared
 * multi-row INSERT over the binary protocol (`execute`) as one statement or as chunks,
 * and `LOAD DATA LOCAL INFILE` from a stream. Rows of realistic size (body envelope
 * ≈ 200 bytes for a 160-character message, number envelope ≈ 45 bytes); variants take
 * turns batch by batch on one growing table, so each meets the same table size.
 *
 * Client CPU is this process's (`process.cpuUsage()`, row building included), server CPU
 * that of the `mariadbd` named by --server-pid (all its threads, background flushing
 * included): give it a server of its own, or other clients' work is counted too.
 *
 * Variants sharing a process also share its garbage collector: one pays for another's
 * garbage. The figures in the report come from one process per variant (`--only`),
 * the variants taking turns, three rounds, 200 batches each. With --expose-gc, garbage
 * is collected before each measured batch instead, which leaves old-generation
 * collections (the text INSERT's large strings) out of every variant's figure.
 *
 *   MB_TEST_MYSQL_URL=mysql://root@127.0.0.1:3307 npx tsx bench/insert-cost.ts \
 *     --server-pid $(cat /path/to/mariadbd.pid) [--batches 200] [--rows 500] [--only insertBatch]
 *     [--drop-index messages_sender_created_idx] [--add-index messages_key_id_idx:key_id]
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import type { Pool } from 'mysql2/promise';
import { openDatabase } from '../src/db/database.js';
import { MessagesRepository } from '../src/db/messages.repository.js';
import type { NewMessageRow } from '../src/db/schema.js';
import { createTestDatabase } from '../test/support/test-database.js';

const { values: args } = parseArgs({
  options: {
    'server-pid': { type: 'string' },
    batches: { type: 'string', default: '40' },
    rows: { type: 'string', default: '500' },
    warmup: { type: 'string', default: '4' },
    only: { type: 'string' },
    'drop-index': { type: 'string', multiple: true, default: [] },
    // name:column,column — e.g. messages_key_id_idx:key_id, the index migration 0002 dropped.
    'add-index': { type: 'string', multiple: true, default: [] },
  },
});
const batches = Number(args.batches);
const rowsPerBatch = Number(args.rows);
const serverPid = args['server-pid'] === undefined ? undefined : Number(args['server-pid']);
const CLOCK_TICKS = 100;

const COLUMNS = [
  'message_id',
  'client_id',
  'domain',
  'sender_hash',
  'pepper_id',
  'sender_masked',
  'sender_enc',
  'body_enc',
  'key_id',
  'metadata',
  'status',
  'attempt_count',
  'queued_at',
  'delivered_at',
  'next_attempt_at',
  'created_at',
];
const ON_DUPLICATE = 'ON DUPLICATE KEY UPDATE message_id = message_id';

function serverCpuSeconds(): number {
  if (serverPid === undefined) return 0;
  const fields = readFileSync(`/proc/${serverPid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

let sequence = 0;
function realisticRow(): NewMessageRow {
  const n = sequence++;
  const now = new Date();
  return {
    message_id: randomUUID(),
    client_id: 1 + (n % 20),
    domain: n % 3 === 0 ? 'alerts.example.com' : 'default',
    sender_hash: randomBytes(32).toString('hex'),
    pepper_id: 'p1',
    sender_masked: '+141****0123',
    sender_enc: randomBytes(45),
    body_enc: randomBytes(200),
    key_id: 'k1',
    metadata: n % 10 === 0 ? { campaign: 'spring', site: n % 7 } : null,
    status: n % 3 === 0 ? 'queued' : 'delivered',
    attempt_count: n % 3 === 0 ? 0 : 1,
    queued_at: now,
    delivered_at: n % 3 === 0 ? null : now,
    next_attempt_at: n % 3 === 0 ? now : null,
  };
}

function valuesOf(row: NewMessageRow, now: Date): unknown[] {
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
  ];
}

function multiRowInsert(rows: number): string {
  const tuple = `(${COLUMNS.map(() => '?').join(', ')})`;
  return `INSERT INTO messages (${COLUMNS.join(', ')}) VALUES ${Array(rows).fill(tuple).join(', ')} ${ON_DUPLICATE}`;
}

// LOAD DATA: tab-separated, \N for NULL, binaries as hex turned back by UNHEX.
const LOAD_DATA = `LOAD DATA LOCAL INFILE 'batch' IGNORE INTO TABLE messages CHARACTER SET utf8mb4
  FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n'
  (${COLUMNS.map((c) => (c === 'sender_enc' || c === 'body_enc' ? `@${c}` : c)).join(', ')})
  SET sender_enc = UNHEX(@sender_enc), body_enc = UNHEX(@body_enc)`;

function tsvDate(value: Date | null | undefined): string {
  return value == null ? '\\N' : value.toISOString().slice(0, 23).replace('T', ' ');
}

function tsvLine(row: NewMessageRow, now: Date): string {
  const text = (v: string) => v.replace(/[\\\t\n]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : '\\n'));
  return [
    row.message_id,
    String(row.client_id),
    text(row.domain),
    row.sender_hash,
    text(row.pepper_id),
    text(row.sender_masked),
    row.sender_enc.toString('hex'),
    row.body_enc.toString('hex'),
    text(row.key_id),
    row.metadata == null ? '\\N' : text(JSON.stringify(row.metadata)),
    row.status ?? 'queued',
    String(row.attempt_count ?? 0),
    tsvDate(row.queued_at),
    tsvDate(row.delivered_at),
    tsvDate(row.next_attempt_at),
    tsvDate(row.created_at ?? now),
  ].join('\t');
}

type Insert = (pool: Pool, rows: NewMessageRow[]) => Promise<void>;

async function executeChunks(pool: Pool, rows: NewMessageRow[], size: number, transaction: boolean) {
  const now = new Date();
  const connection = await pool.getConnection();
  try {
    if (transaction) await connection.query('BEGIN');
    for (let i = 0; i < rows.length; i += size) {
      const chunk = rows.slice(i, i + size);
      await connection.execute(multiRowInsert(chunk.length), chunk.flatMap((row) => valuesOf(row, now)) as never);
    }
    if (transaction) await connection.query('COMMIT');
  } finally {
    connection.release();
  }
}

const VARIANTS: Record<string, Insert> = {
  'query VALUES ? (before)': async (pool, rows) => {
    const now = new Date();
    await pool.query(`INSERT INTO messages (${COLUMNS.join(', ')}) VALUES ? ${ON_DUPLICATE}`, [
      rows.map((row) => valuesOf(row, now)),
    ]);
  },
  'execute, one statement': async (pool, rows) => {
    const now = new Date();
    await pool.execute(multiRowInsert(rows.length), rows.flatMap((row) => valuesOf(row, now)) as never);
  },
  'execute, 100-row statements, autocommit': (pool, rows) => executeChunks(pool, rows, 100, false),
  'execute, 100-row statements, transaction': (pool, rows) => executeChunks(pool, rows, 100, true),
  'execute, 250-row statements, transaction': (pool, rows) => executeChunks(pool, rows, 250, true),
  'LOAD DATA LOCAL INFILE': async (pool, rows) => {
    const now = new Date();
    const text = `${rows.map((row) => tsvLine(row, now)).join('\n')}\n`;
    await pool.query({ sql: LOAD_DATA, infileStreamFactory: () => Readable.from([Buffer.from(text)]) });
  },
  'insertBatch (this tree)': (_pool, rows) => repository.insertBatch(rows),
};

const names = Object.keys(VARIANTS).filter((name) => args.only === undefined || name.includes(args.only));
const database = await createTestDatabase();
const handle = openDatabase({ url: database.url, poolSize: 2 });
const repository = new MessagesRepository(handle.db);
// With --expose-gc, garbage left by the rows' making and by the previous variant is
// collected before each measured batch, so a variant pays for its own garbage only.
const collect = (globalThis as { gc?: () => void }).gc ?? (() => undefined);
try {
  for (const index of args['drop-index']) await handle.pool.query(`DROP INDEX ${index} ON messages`);
  for (const index of args['add-index']) {
    const [name, columns] = index.split(':');
    await handle.pool.query(`CREATE INDEX ${name} ON messages (${columns})`);
  }
  const totals = new Map(names.map((name) => [name, { client: 0, server: 0, wall: 0, rows: 0 }]));
  const warmup = Number(args.warmup);
  for (let round = 0; round < warmup + batches; round++) {
    for (const name of names) {
      const rows = Array.from({ length: rowsPerBatch }, realisticRow);
      collect();
      const server0 = serverCpuSeconds();
      const client0 = process.cpuUsage();
      const wall0 = performance.now();
      await VARIANTS[name]!(handle.pool, rows);
      const wall = performance.now() - wall0;
      const client = process.cpuUsage(client0);
      const server = serverCpuSeconds() - server0;
      if (round < warmup) continue;
      const total = totals.get(name)!;
      total.client += (client.user + client.system) / 1000;
      total.server += server * 1000;
      total.wall += wall;
      total.rows += rows.length;
    }
  }
  const [[count]] = (await handle.pool.query('SELECT COUNT(*) AS n FROM messages')) as unknown as [[{ n: number }]];
  console.log(
    `${batches} batches of ${rowsPerBatch} rows per variant (after ${warmup} warm-up rounds), table at ${count.n} rows${args['drop-index'].length ? `, without ${args['drop-index'].join(', ')}` : ''}${args['add-index'].length ? `, with ${args['add-index'].join(', ')}` : ''}`,
  );
  console.log(
    'variant'.padEnd(42),
    'rows/s',
    '  client ms/batch',
    ' server ms/batch',
    ' client µs/row',
    ' server µs/row',
  );
  for (const [name, t] of totals) {
    const perBatch = (ms: number) => (ms / batches).toFixed(2).padStart(15);
    const perRow = (ms: number) => ((ms * 1000) / t.rows).toFixed(1).padStart(14);
    console.log(
      name.padEnd(42),
      String(Math.round(t.rows / (t.wall / 1000))).padStart(6),
      perBatch(t.client),
      perBatch(t.server),
      perRow(t.client),
      perRow(t.server),
    );
  }
} finally {
  await handle.close();
  await database.drop();
}
