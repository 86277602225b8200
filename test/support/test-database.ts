/**
 * One throwaway MariaDB database per integration test file (or test): created with a
 * random name, migrated, and dropped by `drop()`. Tests never share tables, so files can
 * run in parallel and a failed run leaves nothing another run trips over. Test files use
 * it through `useTestDatabase()` (test-fixtures.ts); harnesses call it directly.
 *
 * The server defaults to root@127.0.0.1:3306; MB_TEST_MYSQL_URL overrides it.
 */
import { randomBytes } from 'node:crypto';
import { createConnection } from 'mysql2/promise';
import { ensureDatabase, openDatabase } from '../../src/db/database.js';
import { migrateDatabase } from '../../src/db/migrate.js';

export interface TestDatabase {
  /** Connection URL naming the new database, ready for `openDatabase`. */
  url: string;
  name: string;
  drop(): Promise<void>;
}

const SERVER_URL = process.env['MB_TEST_MYSQL_URL'] ?? 'mysql://root@127.0.0.1:3306';

export async function createTestDatabase(options: { migrate?: boolean } = {}): Promise<TestDatabase> {
  const database = nameTestDatabase();
  await prepareTestDatabase(database.url, options);
  return database;
}

/** A fresh random name and its URL; nothing exists on the server until `prepareTestDatabase`. */
export function nameTestDatabase(): TestDatabase {
  const name = `mbtest_${randomBytes(6).toString('hex')}`;
  return { name, url: new URL(`/${name}`, SERVER_URL).toString(), drop: () => dropDatabase(name) };
}

/** Creates the database of `url` and migrates it (unless told not to). */
export async function prepareTestDatabase(url: string, options: { migrate?: boolean } = {}): Promise<void> {
  await ensureDatabase(url);
  if (options.migrate ?? true) {
    const handle = openDatabase({ url, poolSize: 2 });
    try {
      await migrateDatabase(handle.db);
    } finally {
      await handle.close();
    }
  }
}

async function dropDatabase(name: string): Promise<void> {
  const connection = await createConnection({ uri: SERVER_URL });
  try {
    await connection.query(`DROP DATABASE IF EXISTS \`${name}\``);
  } finally {
    await connection.end();
  }
}
