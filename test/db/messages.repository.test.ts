import { randomBytes, randomUUID } from 'node:crypto';
import { drizzle } from '../../src/db/drizzle.js';
import { describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/database.js';
import { MessagesRepository, type MessagesRepositoryOptions } from '../../src/db/messages.repository.js';
import * as schema from '../../src/db/schema.js';
import type { NewMessageRow } from '../../src/db/schema.js';
import { useTestDatabase } from '../support/test-fixtures.js';

const { handle } = useTestDatabase({ poolSize: 4 });
const repo = new MessagesRepository(handle.db);

function messageRow(overrides: Partial<NewMessageRow> = {}): NewMessageRow {
  return {
    message_id: randomUUID(),
    client_id: 1,
    domain: 'example.test',
    sender_hash: randomBytes(32).toString('hex'),
    pepper_id: 'p1',
    sender_masked: '+123****7890',
    sender_enc: randomBytes(60),
    body_enc: randomBytes(300),
    key_id: 'k1',
    metadata: { campaign: 'spring', n: 1 },
    queued_at: new Date(),
    ...overrides,
  };
}

/**
 * Counts statements every way a repository reaches MySQL: drizzle's builder, raw pool
 * queries, and queries and prepared statements on a connection taken from the pool.
 */
function countingRepository(options: MessagesRepositoryOptions = {}): {
  repo: MessagesRepository;
  statements: string[];
} {
  const statements: string[] = [];
  const db = drizzle(handle.pool, {
    schema,
    mode: 'default',
    logger: { logQuery: (query) => statements.push(query) },
  }) as Database;
  const recording = <T extends object>(target: T, methods: readonly string[]): T =>
    new Proxy(target, {
      get(object, property, receiver) {
        const value = Reflect.get(object, property, receiver) as unknown;
        if (typeof value !== 'function') return value;
        if (!methods.includes(String(property))) return value.bind(object);
        return (sql: string, ...rest: unknown[]) => {
          statements.push(sql);
          return (value as (...args: unknown[]) => unknown).call(object, sql, ...rest);
        };
      },
    });
  const pool = db.$client;
  const counted = new Proxy(recording(pool, ['query', 'execute']), {
    get(target, property, receiver) {
      if (property !== 'getConnection') return Reflect.get(target, property, receiver) as unknown;
      return async () => recording(await pool.getConnection(), ['query', 'execute']);
    },
  });
  Object.defineProperty(db, '$client', { value: counted });
  return { repo: new MessagesRepository(db, options), statements };
}

/** Rows of a multi-row INSERT: its `(?, ...)` tuples. */
function rowsIn(statement: string): number {
  return statement.match(/\(\?, /g)?.length ?? 0;
}

describe('MessagesRepository.insertBatch', () => {
  it('sends a full batch as one prepared INSERT, idempotent on message_id', async () => {
    const domain = 'bulk.test';
    const rows = Array.from({ length: 500 }, () => messageRow({ domain }));
    const counting = countingRepository();

    await counting.repo.insertBatch(rows);
    expect(counting.statements).toHaveLength(1);
    expect(counting.statements[0]).toMatch(
      /^insert into messages .* on duplicate key update message_id = message_id$/i,
    );
    expect(rowsIn(counting.statements[0]!)).toBe(500);
    expect((await repo.countByStatus(domain)).queued).toBe(500);

    // Replaying the batch (e.g. after a crash before the stream ack) stores nothing new.
    await counting.repo.insertBatch(rows);
    expect(counting.statements).toHaveLength(2);
    expect((await repo.countByStatus(domain)).queued).toBe(500);
  });

  it('stores a replayed batch once, with new rows among it, and keeps the first copy', async () => {
    const domain = 'replay.test';
    const first = Array.from({ length: 137 }, () => messageRow({ domain }));
    await repo.insertBatch(first);
    // The replay carries the same ids with other content (it must not overwrite) and new rows.
    const replay = [
      ...first.map((row) => ({ ...row, body_enc: randomBytes(10), status: 'failed' as const })),
      ...Array.from({ length: 63 }, () => messageRow({ domain })),
    ];
    await repo.insertBatch(replay);
    expect(await repo.countByStatus(domain)).toEqual({ queued: 200, delivered: 0, failed: 0 });
    const stored = new Map((await repo.findByMessageIds(first.map((r) => r.message_id))).map((r) => [r.message_id, r]));
    for (const row of first) {
      expect(stored.get(row.message_id)?.body_enc.equals(row.body_enc)).toBe(true);
      expect(stored.get(row.message_id)?.sender_enc.equals(row.sender_enc)).toBe(true);
    }
  });

  it('sends any other size padded to the next bucket size, or split where padding would cost more rows than a statement, so a connection prepares at most sixteen', async () => {
    const counting = countingRepository({ fullBatchRows: 200 });
    const distinct = new Set<string>();
    // Size → rows of each INSERT: a padding of up to 32 repeated rows is sent as it is
    // (MariaDB pays a repeat as much as a new row); more, and the batch is split at the
    // largest prepared size below it (one transaction).
    const plans: Array<[number, number[]]> = [
      [37, [40]],
      [51, [56]],
      [99, [128]],
      [1, [1]],
      [200, [200]],
      [150, [128, 24]],
      [130, [128, 2]],
      [255, [256]],
      [127, [128]],
      [3, [4]],
    ];
    for (const [size, inserts] of plans) {
      counting.statements.length = 0;
      await counting.repo.insertBatch(Array.from({ length: size }, () => messageRow({ domain: 'sizes.test' })));
      const sent = counting.statements.filter((statement) => /^insert/i.test(statement));
      expect(sent.map(rowsIn)).toEqual(inserts);
      // One round trip for a single statement; several go in one transaction.
      expect(counting.statements.filter((statement) => !/^insert/i.test(statement))).toEqual(
        inserts.length === 1 ? [] : ['BEGIN', 'COMMIT'],
      );
      for (const statement of sent) distinct.add(statement);
    }
    expect([...distinct].map(rowsIn).sort((a, b) => b - a)).toEqual([256, 200, 128, 56, 40, 24, 4, 2, 1]);
    // The padding rows are repeats: each message stored once.
    expect((await repo.countByStatus('sizes.test')).queued).toBe(plans.reduce((a, [size]) => a + size, 0));
  });

  it('stores none of a batch when one of its statements fails, and the pool stays usable', async () => {
    const domain = 'rollback.test';
    // 500 + 2 rows (two statements in one transaction): the bad row is in the second,
    // after the first has run.
    const rows = Array.from({ length: 502 }, () => messageRow({ domain }));
    rows[501] = { ...rows[501]!, sender_masked: 'x'.repeat(100) };
    await expect(repo.insertBatch(rows)).rejects.toMatchObject({ code: 'ER_DATA_TOO_LONG' });
    expect(await repo.countByStatus(domain)).toEqual({ queued: 0, delivered: 0, failed: 0 });

    rows[501] = messageRow({ domain });
    await Promise.all([repo.insertBatch(rows), repo.insertBatch(rows.slice(0, 3))]);
    expect((await repo.countByStatus(domain)).queued).toBe(502);
  });

  it('cuts a batch of large envelopes below max_allowed_packet', async () => {
    const counting = countingRepository();
    const rows = Array.from({ length: 300 }, () => messageRow({ domain: 'large.test', body_enc: randomBytes(60_000) }));
    await counting.repo.insertBatch(rows);
    const inserts = counting.statements.filter((statement) => statement.startsWith('INSERT'));
    expect(inserts.length).toBeGreaterThan(2);
    expect((await repo.countByStatus('large.test')).queued).toBe(300);
  });

  it('accepts an empty batch without a query', async () => {
    const counting = countingRepository();
    await counting.repo.insertBatch([]);
    expect(counting.statements).toHaveLength(0);
  });

  it('round-trips binary columns byte for byte', async () => {
    const every = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const edgy = Buffer.from([0x00, 0xff, 0x80, 0x00, 0x27, 0x5c, 0x22, 0xc3, 0x28, 0x00]);
    const first = messageRow({ sender_enc: edgy, body_enc: every });
    const second = messageRow({ sender_enc: randomBytes(512), body_enc: randomBytes(65_535), metadata: null });
    await repo.insertBatch([first, second]);

    const [a, b] = await Promise.all([repo.findOne(first.message_id), repo.findOne(second.message_id)]);
    expect(Buffer.isBuffer(a?.body_enc)).toBe(true);
    expect(a?.body_enc.equals(every)).toBe(true);
    expect(a?.sender_enc.equals(edgy)).toBe(true);
    expect(b?.sender_enc.equals(second.sender_enc)).toBe(true);
    expect(b?.body_enc.equals(second.body_enc)).toBe(true);
    expect(a?.metadata).toEqual({ campaign: 'spring', n: 1 });
    expect(b?.metadata).toBeNull();
  });

  it('keeps datetimes in UTC to the millisecond', async () => {
    const queuedAt = new Date('2030-01-02T03:04:05.678Z');
    const row = messageRow({ queued_at: queuedAt });
    const before = Date.now();
    await repo.insertBatch([row]);
    const stored = await repo.findOne(row.message_id);
    expect(stored?.queued_at.toISOString()).toBe(queuedAt.toISOString());
    // created_at comes from the server's CURRENT_TIMESTAMP(3) in the session zone (UTC).
    expect(Math.abs((stored?.created_at.getTime() ?? 0) - before)).toBeLessThan(5_000);
    expect(stored).toMatchObject({ status: 'queued', attempt_count: 0, delivered_at: null, last_error: null });
  });

  it('times 500-row batches', async () => {
    // The first batch on a connection pays for preparing the statement; later ones show
    // the steady state. Only logged: timings depend on the machine.
    const timings: string[] = [];
    for (let round = 0; round < 3; round++) {
      const rows = Array.from({ length: 500 }, () => messageRow({ domain: 'timing.test' }));
      const started = performance.now();
      await repo.insertBatch(rows);
      timings.push((performance.now() - started).toFixed(1));
    }
    console.info(`insertBatch(500 rows, 300-byte bodies) ms: ${timings.join(', ')}`);
    expect((await repo.countByStatus('timing.test')).queued).toBe(1500);
  });
});

describe('MessagesRepository.findForDelivery', () => {
  it('reads the rows as drizzle does, each with its client CN (its id when the client row is gone), for any number of ids', async () => {
    const name = `reader-${randomUUID().slice(0, 8)}`;
    const [client] = await handle.db.insert(schema.clients).values({ name, domain: 'reader.test' }).$returningId();
    const named = Array.from({ length: 300 }, (_, i) =>
      messageRow({
        client_id: client!.id,
        domain: 'reader.test',
        metadata: i % 2 ? null : { campaign: 'spring', n: i, text: 'ünïcödé' },
        route: i % 3 ? null : 'uk',
        route_match: i % 3 ? null : '+44',
        target: i % 3 ? 'default' : 'eu',
      }),
    );
    const orphan = messageRow({ client_id: 999_999_999 });
    await repo.insertBatch([...named, orphan]);
    const ids = [...named, orphan].map((r) => r.message_id);
    const expected = new Map((await repo.findByMessageIds(ids)).map((row) => [row.message_id, row]));
    for (const take of [1, 3, 5, 64, 301]) {
      const wanted = [...ids.slice(-take), ids.at(-1)!]; // a repeated id is read once
      const rows = await repo.findForDelivery(wanted);
      expect(rows).toHaveLength(take);
      for (const row of rows) {
        const { client_cn, ...message } = row;
        expect(message).toEqual(expected.get(row.message_id));
        expect(client_cn).toBe(row.message_id === orphan.message_id ? '999999999' : `${name}.reader.test`);
      }
    }
    expect(await repo.findForDelivery([])).toEqual([]);
    expect(await repo.findForDelivery([randomUUID()])).toEqual([]);
  });
});

describe('MessagesRepository delivery outcomes', () => {
  it('markDelivered sets delivered_at once and skips delivered rows', async () => {
    const rows = [messageRow(), messageRow(), messageRow()];
    await repo.insertBatch(rows);
    const ids = rows.map((r) => r.message_id);
    const at = new Date('2031-05-05T05:05:05.005Z');

    expect(await repo.markDelivered(ids.slice(0, 2), at)).toBe(2);
    expect(await repo.markDelivered(ids, new Date('2032-01-01T00:00:00.000Z'))).toBe(1);

    const stored = new Map((await repo.findByMessageIds(ids)).map((m) => [m.message_id, m]));
    expect(stored.get(ids[0]!)?.delivered_at?.toISOString()).toBe(at.toISOString());
    expect(stored.get(ids[2]!)?.delivered_at?.toISOString()).toBe('2032-01-01T00:00:00.000Z');
    for (const m of stored.values()) {
      expect(m.status).toBe('delivered');
      expect(m.attempt_count).toBe(0);
    }
    expect(await repo.markDelivered([], at)).toBe(0);
  });

  it('recordAttemptFailures counts attempts, keeps each error, fails the final ones', async () => {
    const [retry, last, delivered] = [messageRow(), messageRow(), messageRow()];
    await repo.insertBatch([retry, last, delivered]);
    await repo.markDelivered([delivered.message_id], new Date());
    const next = new Date('2030-06-01T12:00:00.250Z');

    const affected = await repo.recordAttemptFailures([
      { message_id: retry.message_id, error: 'HTTP 503', final: false, next_attempt_at: next },
      { message_id: last.message_id, error: 'x'.repeat(2000), final: true, next_attempt_at: null },
      { message_id: delivered.message_id, error: 'late duplicate', final: true, next_attempt_at: null },
    ]);
    expect(affected).toBe(2);

    const r = await repo.findOne(retry.message_id);
    expect(r).toMatchObject({ status: 'queued', attempt_count: 1, last_error: 'HTTP 503' });
    expect(r?.next_attempt_at?.toISOString()).toBe(next.toISOString());
    const l = await repo.findOne(last.message_id);
    expect(l).toMatchObject({ status: 'failed', attempt_count: 1, next_attempt_at: null });
    expect(l?.last_error).toBe('x'.repeat(512));
    // A failure reported after a success does not undo it.
    expect(await repo.findOne(delivered.message_id)).toMatchObject({ status: 'delivered', last_error: null });

    await repo.recordAttemptFailures([
      { message_id: retry.message_id, error: 'timeout 😀'.repeat(100), final: false, next_attempt_at: null },
    ]);
    const again = await repo.findOne(retry.message_id);
    expect(again).toMatchObject({ status: 'queued', attempt_count: 2, next_attempt_at: null });
    expect(Array.from(again?.last_error ?? '')).toHaveLength(512);
    expect(await repo.recordAttemptFailures([])).toBe(0);
  });

  it('recordAttemptSuccess counts the attempt and marks delivered', async () => {
    const row = messageRow();
    await repo.insertBatch([row]);
    await repo.recordAttemptFailures([
      { message_id: row.message_id, error: 'refused', final: false, next_attempt_at: new Date() },
    ]);
    const at = new Date('2030-07-07T07:07:07.777Z');
    expect(await repo.recordAttemptSuccess([row.message_id], at)).toBe(1);
    const stored = await repo.findOne(row.message_id);
    expect(stored).toMatchObject({ status: 'delivered', attempt_count: 2, next_attempt_at: null });
    expect(stored?.delivered_at?.toISOString()).toBe(at.toISOString());
    // A duplicate success report neither counts again nor moves delivered_at.
    expect(await repo.recordAttemptSuccess([row.message_id], new Date())).toBe(0);
    expect((await repo.findOne(row.message_id))?.attempt_count).toBe(2);
  });

  it('recordAttemptSuccess takes any number of ids (padded statements), repeats and rows delivered already', async () => {
    const rows = Array.from({ length: 300 }, () => messageRow());
    await repo.insertBatch(rows);
    const ids = rows.map((r) => r.message_id);
    await repo.markDelivered(ids.slice(0, 10), new Date('2030-01-01T00:00:00.000Z'));
    const at = new Date('2030-07-07T07:07:07.777Z');
    // 300 ids (a 256 and a 64 statement), 5 of them twice, 10 delivered already.
    expect(await repo.recordAttemptSuccess([...ids, ...ids.slice(100, 105)], at)).toBe(290);
    const stored = await repo.findByMessageIds(ids);
    expect(stored.filter((r) => r.status === 'delivered')).toHaveLength(300);
    const fresh = stored.filter((r) => r.delivered_at?.toISOString() === at.toISOString());
    expect(fresh).toHaveLength(290);
    expect(fresh.every((r) => r.attempt_count === 1 && r.next_attempt_at === null)).toBe(true);
    expect(await repo.recordAttemptSuccess([ids[299]!, ids[298]!, ids[297]!], new Date())).toBe(0);
    expect(await repo.recordAttemptSuccess([], new Date())).toBe(0);
  });

  it('counts by status per domain and overall', async () => {
    const domain = 'counts.test';
    const rows = Array.from({ length: 5 }, () => messageRow({ domain }));
    await repo.insertBatch(rows);
    await repo.markDelivered([rows[0]!.message_id, rows[1]!.message_id], new Date());
    await repo.recordAttemptFailures([
      { message_id: rows[2]!.message_id, error: 'gone', final: true, next_attempt_at: null },
    ]);
    expect(await repo.countByStatus(domain)).toEqual({ queued: 2, delivered: 2, failed: 1 });
    expect(await repo.countByStatus('nobody.test')).toEqual({ queued: 0, delivered: 0, failed: 0 });
    const all = await repo.countByStatus();
    expect(await repo.countAll()).toBe(all.queued + all.delivered + all.failed);
    expect(await repo.findOne(randomUUID())).toBeUndefined();
    expect(await repo.findByMessageIds([])).toEqual([]);
  });
});
