import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migrate } from '../../src/db/drizzle.js';
import { createConnection } from 'mysql2/promise';
import type { RowDataPacket } from 'mysql2/promise';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/database.js';
import type { DatabaseHandle } from '../../src/db/database.js';
import { MessagesRepository } from '../../src/db/messages.repository.js';
import { MIGRATIONS_FOLDER, migrateDatabase } from '../../src/db/migrate.js';
import { createTestDatabase } from '../support/test-database.js';
import type { TestDatabase } from '../support/test-database.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function emptyDatabase(): Promise<TestDatabase> {
  const database = await createTestDatabase({ migrate: false });
  cleanups.push(() => database.drop());
  return database;
}

function open(url: string): DatabaseHandle {
  const handle = openDatabase({ url, poolSize: 3 });
  cleanups.push(() => handle.close());
  return handle;
}

async function tablesOf(url: string): Promise<string[]> {
  const connection = await createConnection({ uri: url });
  try {
    const [rows] = await connection.query<RowDataPacket[]>(
      'SELECT table_name AS name FROM information_schema.tables WHERE table_schema = DATABASE() ',
    );
    return rows.map((row) => String(row['name'])).sort();
  } finally {
    await connection.end();
  }
}

async function indexesOfMessages(handle: DatabaseHandle): Promise<string[]> {
  const [rows] = await handle.pool.query<RowDataPacket[]>(
    `SELECT DISTINCT index_name AS name FROM information_schema.statistics
      WHERE table_schema = DATABASE() AND table_name = 'messages'`,
  );
  return rows.map((row) => String(row['name'])).sort();
}

/** The migrations folder as it was up to `tag`: a database migrated with it has that release's schema. */
function migrationsUpTo(tag: string): string {
  const folder = mkdtempSync(join(tmpdir(), 'mb-migrations-'));
  cleanups.push(async () => rmSync(folder, { recursive: true, force: true }));
  cpSync(MIGRATIONS_FOLDER, folder, { recursive: true });
  const journalPath = join(folder, 'meta', '_journal.json');
  const journal = JSON.parse(readFileSync(journalPath, 'utf8')) as { entries: Array<{ tag: string }> };
  const last = journal.entries.findIndex((entry) => entry.tag === tag);
  expect(last).toBeGreaterThanOrEqual(0);
  journal.entries = journal.entries.slice(0, last + 1);
  writeFileSync(journalPath, JSON.stringify(journal));
  return folder;
}

async function migrationCount(handle: DatabaseHandle): Promise<number> {
  const [rows] = await handle.pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM __drizzle_migrations');
  return Number(rows[0]?.['n']);
}

describe('migrateDatabase', () => {
  it('creates every table in an empty database, and a second run changes nothing', async () => {
    const database = await emptyDatabase();
    expect(await tablesOf(database.url)).toEqual([]);
    const handle = open(database.url);

    await migrateDatabase(handle.db);
    const tables = await tablesOf(database.url);
    expect(tables).toEqual([
      '__drizzle_migrations',
      'audit_log',
      'certificates',
      'clients',
      'messages',
      'secret_fingerprints',
      'users',
    ]);
    const applied = await migrationCount(handle);
    expect(applied).toBeGreaterThan(0);

    await migrateDatabase(handle.db);
    expect(await tablesOf(database.url)).toEqual(tables);
    expect(await migrationCount(handle)).toBe(applied);
  });

  it('lets two brokers migrate the same empty database at once', async () => {
    const database = await emptyDatabase();
    const first = open(database.url);
    const second = open(database.url);

    const results = await Promise.allSettled([migrateDatabase(first.db), migrateDatabase(second.db)]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled']);
    // Each migration recorded once: the loser of the lock saw the winner's journal.
    const [files] = await first.pool.query<RowDataPacket[]>('SELECT hash FROM __drizzle_migrations');
    expect(new Set(files.map((row) => row['hash'])).size).toBe(files.length);
    expect(await tablesOf(database.url)).toContain('messages');
  });

  it('upgrades a database of the previous schema in place: the key_id index goes, the rows stay', async () => {
    const database = await emptyDatabase();
    // One connection: the insert after the migration reuses the statement prepared before it.
    const handle = openDatabase({ url: database.url, poolSize: 1 });
    cleanups.push(() => handle.close());
    await migrate(handle.db, { migrationsFolder: migrationsUpTo('0001_portal_sender_index') });
    expect(await indexesOfMessages(handle)).toContain('messages_key_id_idx');
    const row = {
      message_id: '0b6f8f7e-6f7a-4c1e-9d55-3f1a2b3c4d5e',
      client_id: 1,
      domain: 'upgrade.test',
      sender_hash: 'a'.repeat(64),
      pepper_id: 'p1',
      sender_masked: '+123****7890',
      sender_enc: Buffer.from([0, 1, 2, 0xff]),
      body_enc: Buffer.from([0x80, 0x00, 0x5c, 0x27]),
      key_id: 'k1',
      queued_at: new Date(),
    };
    // Written as a broker of that schema did (the repository now writes target and route, added later).
    await handle.pool.query(
      `INSERT INTO messages (message_id, client_id, domain, sender_hash, pepper_id, sender_masked, sender_enc, body_enc, key_id, queued_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        row.message_id,
        row.client_id,
        row.domain,
        row.sender_hash,
        row.pepper_id,
        row.sender_masked,
        row.sender_enc,
        row.body_enc,
        row.key_id,
        row.queued_at,
      ],
    );

    await migrateDatabase(handle.db);
    expect(await indexesOfMessages(handle)).not.toContain('messages_key_id_idx');
    const stored = await new MessagesRepository(handle.db).findOne(row.message_id);
    expect(stored?.body_enc.equals(row.body_enc)).toBe(true);
    // A row of before routing: its domain's single target, no route.
    expect(stored).toMatchObject({ target: 'default', route: null });
    // The INSERT runs on the upgraded table, and a replay stores nothing twice.
    const repository = new MessagesRepository(handle.db);
    await repository.insertBatch([{ ...row, message_id: 'c2d1e0f9-0000-4000-8000-000000000001' }]);
    await repository.insertBatch([row]);
    expect(await repository.countAll()).toBe(2);
  });

  it('upgrades users to accounts per tenant (0004): the rows stay, an email may then have one per domain', async () => {
    const database = await emptyDatabase();
    const handle = openDatabase({ url: database.url, poolSize: 1 });
    cleanups.push(() => handle.close());
    await migrate(handle.db, { migrationsFolder: migrationsUpTo('0003_secret_fingerprints') });
    await handle.pool.query(
      `INSERT INTO users (email, password_hash, role, domain) VALUES
         ('ops@upgrade.test', 'h1', 'admin', 'alpha'), ('root@upgrade.test', 'h2', 'superadmin', NULL)`,
    );
    const insert = (email: string, domain: string | null) =>
      handle.pool
        .query('INSERT INTO users (email, password_hash, role, domain) VALUES (?, ?, ?, ?)', [
          email,
          'h',
          domain === null ? 'superadmin' : 'admin',
          domain,
        ])
        .then(
          () => 'stored',
          (error: { code?: string }) => error.code,
        );
    expect(await insert('ops@upgrade.test', 'beta')).toBe('ER_DUP_ENTRY');

    await migrateDatabase(handle.db);
    const [rows] = await handle.pool.query<RowDataPacket[]>('SELECT email, domain, domain_key FROM users ORDER BY id');
    expect(rows.map((row) => [row['email'], row['domain'], row['domain_key']])).toEqual([
      ['ops@upgrade.test', 'alpha', 'alpha'],
      ['root@upgrade.test', null, ''],
    ]);
    expect(await insert('ops@upgrade.test', 'beta')).toBe('stored');
    expect(await insert('OPS@upgrade.test', 'alpha')).toBe('ER_DUP_ENTRY');
    expect(await insert('ops@upgrade.test', null)).toBe('stored');
    expect(await insert('Root@upgrade.test', null)).toBe('ER_DUP_ENTRY');
  });

  it('creates tables as InnoDB utf8mb4 with the declared indexes', async () => {
    const database = await createTestDatabase();
    cleanups.push(() => database.drop());
    const handle = open(database.url);
    const [tables] = await handle.pool.query<RowDataPacket[]>(
      `SELECT table_name AS name, engine, table_collation AS collation
         FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name <> '__drizzle_migrations'`,
    );
    for (const table of tables) {
      expect(table['engine']).toBe('InnoDB');
      expect(String(table['collation'])).toMatch(/^utf8mb4_/);
    }
    expect(await indexesOfMessages(handle)).toEqual([
      'PRIMARY',
      'messages_client_created_idx',
      'messages_domain_created_idx',
      'messages_message_id_unique',
      'messages_sender_created_idx',
      'messages_status_domain_created_idx',
    ]);
  });
});
