/**
 * What the message id's version costs the unique index on `messages.message_id`, once the
 * table outgrows the buffer pool: random UUID v4 ids land on random pages of the B-tree
 * (a page read when it is not cached), UUID v7 ids on its right edge. One table per
 * variant, shaped like the hot part of `messages` (auto-increment key, CHAR(36) unique id,
 * ~300-byte body), prefilled server-side with --rows ids of the variant's shape (v4: MD5
 * of a salted sequence number; v7: an increasing millisecond, then MD5 hex), so that table
 * and index exceed the buffer pool. Then the variants take turns (v4, v7, v7, v4, …),
 * each round inserting --inserts rows as multi-row INSERTs of --batch rows, one
 * transaction each, ids from `crypto.randomUUID()` and `uuidV7()`; the first
 * --warmup rows of a round are not counted (the other table's pages fill the pool).
 *
 * Per round: wall time, rows/s, the CPU of the `mariadbd` process (/proc/<pid>/stat, all
 * its threads) and its buffer-pool reads from disk (Innodb_buffer_pool_reads) per 1,000
 * rows. Both are server-wide: other clients' work is counted too. The database is its own
 * (`mb_bench_ids_<pid>`) and is dropped at the end, on error and on ctrl-c.
 *
 *   npx tsx bench/message-id-index.ts [--rows 3000000] [--inserts 200000] [--batch 50]
 *     [--rounds 2] [--warmup 10000]
 */
import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { type Connection, createConnection, type RowDataPacket } from 'mysql2/promise';
import { uuidV7 } from '../src/util/uuid.js';

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '3000000' },
    inserts: { type: 'string', default: '200000' },
    batch: { type: 'string', default: '50' },
    rounds: { type: 'string', default: '2' },
    warmup: { type: 'string', default: '10000' },
  },
});
const prefillRows = Number(args.rows);
const inserts = Number(args.inserts);
const batchSize = Number(args.batch);
const warmup = Number(args.warmup);
const SERVER_URL = process.env['MB_TEST_MYSQL_URL'] ?? 'mysql://root@127.0.0.1:3306';
const CLOCK_TICKS = 100;
const PREFILL_CHUNK = 250_000;
const database = `mb_bench_ids_${process.pid}`;

const variants = {
  v4: { newId: () => randomUUID(), prefillId: v4Shaped },
  v7: { newId: () => uuidV7(), prefillId: v7Shaped },
};
type Name = keyof typeof variants;

/** SQL for a v4-shaped id from hex digest `h` (32 hex digits): version 4, variant 10xx. */
function v4Shaped(h: string): string {
  return `CONCAT_WS('-', SUBSTR(${h}, 1, 8), SUBSTR(${h}, 9, 4), CONCAT('4', SUBSTR(${h}, 14, 3)),
    CONCAT(SUBSTR('89ab', 1 + CONV(SUBSTR(${h}, 17, 1), 16, 10) % 4, 1), SUBSTR(${h}, 18, 3)), SUBSTR(${h}, 21, 12))`;
}

/** SQL for a v7-shaped id: the millisecond `seq` ms after one long past, then `h`'s random hex. */
function v7Shaped(h: string): string {
  const start = Date.now() - prefillRows - 60_000;
  const ms = `LOWER(LPAD(HEX(${start} + seq), 12, '0'))`;
  return `CONCAT_WS('-', SUBSTR(${ms}, 1, 8), SUBSTR(${ms}, 9, 4), CONCAT('7', SUBSTR(${h}, 14, 3)),
    CONCAT(SUBSTR('89ab', 1 + CONV(SUBSTR(${h}, 17, 1), 16, 10) % 4, 1), SUBSTR(${h}, 18, 3)), SUBSTR(${h}, 21, 12))`;
}

const mariadbPid = Number(execFileSync('pidof', ['mariadbd'], { encoding: 'utf8' }).trim().split(' ')[0]);
/** utime + stime of mariadbd (all threads), in milliseconds. */
function serverCpuMs(): number {
  const stat = readFileSync(`/proc/${mariadbPid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
}

async function poolReads(conn: Connection): Promise<number> {
  const [rows] = await conn.query<RowDataPacket[]>("SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_reads'");
  return Number(rows[0]!['Value']);
}

async function insertRows(conn: Connection, name: Name, count: number): Promise<void> {
  for (let done = 0; done < count; done += batchSize) {
    const rows = [];
    for (let i = 0; i < Math.min(batchSize, count - done); i++) rows.push([variants[name].newId(), randomBytes(300)]);
    await conn.query(`INSERT INTO ${name} (message_id, body_enc) VALUES ?`, [rows]);
  }
}

const admin = await createConnection(SERVER_URL);
const conn = await createConnection(SERVER_URL);
let dropping: Promise<void> | undefined;
/** Stops whatever statement the bench's connection runs, then drops the database (once). */
function dropDatabase(): Promise<void> {
  dropping ??= (async () => {
    await admin.query(`KILL CONNECTION ${conn.threadId}`).catch(() => {});
    await admin.query(`DROP DATABASE IF EXISTS ${database}`);
    await admin.end();
  })();
  return dropping;
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    process.stderr.write(`${signal}: dropping ${database}\n`);
    void dropDatabase().finally(() => process.exit(130));
  });
}

const log = (message: string) => process.stderr.write(`${new Date().toISOString()} ${message}\n`);
try {
  await conn.query(`CREATE DATABASE ${database}`);
  await conn.query(`USE ${database}`);
  const prefill: Record<string, { seconds: number; data_mib: number; index_mib: number }> = {};
  for (const name of Object.keys(variants) as Name[]) {
    await conn.query(`CREATE TABLE ${name} (
      id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
      message_id CHAR(36) NOT NULL UNIQUE,
      body_enc BLOB NOT NULL
    ) ENGINE=InnoDB`);
    const salt = randomBytes(8).toString('hex');
    const started = performance.now();
    for (let from = 1; from <= prefillRows; from += PREFILL_CHUNK) {
      const to = Math.min(prefillRows, from + PREFILL_CHUNK - 1);
      await conn.query(`INSERT INTO ${name} (message_id, body_enc)
        SELECT ${variants[name].prefillId(`MD5(CONCAT('${salt}', seq))`)}, RANDOM_BYTES(300) FROM seq_${from}_to_${to}`);
      log(`prefill ${name}: ${to} rows`);
    }
    await conn.query(`ANALYZE TABLE ${name}`);
    const [[size]] = await conn.query<RowDataPacket[]>(
      'SELECT data_length, index_length FROM information_schema.tables WHERE table_schema = ? AND table_name = ?',
      [database, name],
    );
    prefill[name] = {
      seconds: Math.round((performance.now() - started) / 100) / 10,
      data_mib: Math.round(Number(size!['data_length']) / 2 ** 20),
      index_mib: Math.round(Number(size!['index_length']) / 2 ** 20),
    };
  }

  const order: Name[] = [];
  for (let i = 0; i < Number(args.rounds); i++) order.push(...((i % 2 === 0 ? ['v4', 'v7'] : ['v7', 'v4']) as Name[]));
  const rounds = [];
  for (const name of order) {
    await insertRows(conn, name, warmup);
    const reads = await poolReads(conn);
    const cpu = serverCpuMs();
    const started = performance.now();
    await insertRows(conn, name, inserts);
    const seconds = (performance.now() - started) / 1000;
    const perK = 1000 / inserts;
    rounds.push({
      variant: name,
      seconds: Math.round(seconds * 10) / 10,
      rows_per_s: Math.round(inserts / seconds),
      mariadb_cpu_ms_per_1k: Math.round((serverCpuMs() - cpu) * perK * 10) / 10,
      pool_reads_per_1k: Math.round(((await poolReads(conn)) - reads) * perK * 10) / 10,
    });
    log(JSON.stringify(rounds.at(-1)));
  }

  const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return Math.round(((s[(s.length - 1) >> 1]! + s[s.length >> 1]!) / 2) * 10) / 10;
  };
  const medians: Record<string, Record<string, number>> = {};
  for (const name of Object.keys(variants) as Name[]) {
    const mine = rounds.filter((r) => r.variant === name);
    medians[name] = {
      rows_per_s: median(mine.map((r) => r.rows_per_s)),
      mariadb_cpu_ms_per_1k: median(mine.map((r) => r.mariadb_cpu_ms_per_1k)),
      pool_reads_per_1k: median(mine.map((r) => r.pool_reads_per_1k)),
    };
  }
  const [[pool]] = await conn.query<RowDataPacket[]>('SELECT @@innodb_buffer_pool_size AS size');
  const report = {
    rows: prefillRows,
    inserts,
    batch: batchSize,
    warmup,
    buffer_pool_mib: Number(pool!['size']) / 2 ** 20,
    prefill,
    rounds,
    medians,
  };
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
} finally {
  await conn.end().catch(() => {});
  await dropDatabase();
}
