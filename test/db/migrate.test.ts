import { createConnection } from 'mysql2/promise';
import type { RowDataPacket } from 'mysql2/promise';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/database.js';
import type { DatabaseHandle } from '../../src/db/database.js';
import { migrateDatabase } from '../../src/db/migrate.js';
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
    expect(tables).toEqual(['__drizzle_migrations', 'audit_log', 'certificates', 'clients', 'messages', 'users']);
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
    const [indexes] = await handle.pool.query<RowDataPacket[]>(
      `SELECT DISTINCT index_name AS name FROM information_schema.statistics
        WHERE table_schema = DATABASE() AND table_name = 'messages'`,
    );
    expect(indexes.map((row) => String(row['name'])).sort()).toEqual([
      'PRIMARY',
      'messages_client_created_idx',
      'messages_domain_created_idx',
      'messages_key_id_idx',
      'messages_message_id_unique',
      'messages_sender_created_idx',
      'messages_status_domain_created_idx',
    ]);
  });
});
