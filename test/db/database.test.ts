import { describe, expect, it } from 'vitest';
import { sql } from '../../src/db/drizzle.js';
import { BrokerError } from '../../src/errors.js';
import { ensureDatabase, isConnectionError, isDuplicateKeyError, openDatabase } from '../../src/db/database.js';
import { createTestDatabase } from '../support/test-database.js';

// Nothing listens on port 1: connecting fails at once with ECONNREFUSED.
const DEAD_URL = 'mysql://root@127.0.0.1:1/mb_nowhere';

describe('database connection', () => {
  it('reports an unreachable server as STORAGE_UNAVAILABLE from ensureDatabase', async () => {
    const error = await ensureDatabase(DEAD_URL).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BrokerError);
    expect((error as BrokerError).code).toBe('STORAGE_UNAVAILABLE');
  });

  it('tells a refused connection from a bad query', async () => {
    const dead = openDatabase({ url: DEAD_URL, poolSize: 1 });
    const refused = await dead.db.execute(sql`SELECT 1`).catch((e: unknown) => e);
    await dead.close();
    expect(isConnectionError(refused)).toBe(true);

    const database = await createTestDatabase();
    const live = openDatabase({ url: database.url, poolSize: 1 });
    try {
      const bad = await live.db.execute(sql`SELECT * FROM no_such_table`).catch((e: unknown) => e);
      expect(bad).toBeInstanceOf(Error);
      expect(isConnectionError(bad)).toBe(false);
      expect(isDuplicateKeyError(bad)).toBe(false);
    } finally {
      await live.close();
      await database.drop();
    }
  });

  it('runs sessions in UTC whatever the server zone', async () => {
    const database = await createTestDatabase();
    const handle = openDatabase({ url: database.url, poolSize: 1 });
    try {
      const [rows] = await handle.db.execute(sql`SELECT @@session.time_zone AS tz`);
      expect((rows as unknown as { tz: string }[])[0]?.tz).toBe('+00:00');
    } finally {
      await handle.close();
      await database.drop();
    }
  });
});
