/**
 * Applies drizzle/ migrations at start. Two brokers starting together would both find
 * the journal empty and both run CREATE TABLE, so the run is serialised by a named
 * server lock; the loser waits, then finds every migration recorded and does nothing.
 */
import { fileURLToPath } from 'node:url';
import { drizzle, migrate } from './drizzle.js';
import { toStorageError } from './database.js';
import type { Database } from './database.js';
import { withNamedLock } from './named-lock.js';
import * as schema from './schema.js';

// ../../drizzle from both src/db/ (tsx, vitest) and dist/db/ (compiled).
export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../drizzle', import.meta.url));

const LOCK_NAME = 'mb_migrate';
const LOCK_TIMEOUT_SECONDS = 60;

export async function migrateDatabase(db: Database): Promise<void> {
  try {
    // The lock, the migration and the release all run on one connection rather than on
    // whatever the pool hands out.
    await withNamedLock(db, LOCK_NAME, LOCK_TIMEOUT_SECONDS, async (connection) => {
      const single = drizzle(connection, { schema, mode: 'default' });
      await migrate(single, { migrationsFolder: MIGRATIONS_FOLDER });
    });
  } catch (error) {
    throw toStorageError(error);
  }
}
