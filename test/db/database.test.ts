import { describe, expect, it } from 'vitest';
import { sql } from '../../src/db/drizzle.js';
import { BrokerError } from '../../src/errors.js';
import { ensureDatabase, isConnectionError, isDuplicateKeyError, openDatabase } from '../../src/db/database.js';
import { DatabaseUser } from '../support/database-user.js';
import { createTestDatabase } from '../support/test-database.js';
import { databaseErrorCode, describeError } from '../../src/db/database.js';

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

  it('sees a database grant given back within the refresh interval, on the connections it already holds', async () => {
    const database = await createTestDatabase();
    const user = await DatabaseUser.create(database.url, database.name);
    const handle = openDatabase({ url: user.url, poolSize: 2, privilegeRefreshMs: 200 });
    const insert = () =>
      handle.db.execute(sql`INSERT INTO audit_log (actor, action, target_type) VALUES ('t', 'grant.test', 't')`).then(
        () => 'ok',
        (error: unknown) => databaseErrorCode(error) ?? String(error),
      );
    try {
      expect(await insert()).toBe('ok');
      await user.takeInsertAway();
      // A killed connection may still be handed out once before the pool hears it closed.
      let refused = await insert();
      for (let i = 0; i < 5 && refused !== 'ER_TABLEACCESS_DENIED_ERROR'; i++) refused = await insert();
      expect(refused).toBe('ER_TABLEACCESS_DENIED_ERROR');
      // Given back: the connections the pool holds were made without it.
      await user.giveInsertBack();
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect([await insert(), await insert(), await insert()]).toEqual(['ok', 'ok', 'ok']);
    } finally {
      await handle.close();
      await user.drop();
      await database.drop();
    }
  });

  it('describes a missing privilege with the grant it lacks, other database errors by their code alone', async () => {
    const database = await createTestDatabase();
    const user = await DatabaseUser.create(database.url, database.name);
    const handle = openDatabase({ url: user.url, poolSize: 1 });
    const insert = () =>
      handle.db
        .execute(sql`INSERT INTO audit_log (actor, action, target_type) VALUES ('secret-value', 'grant.test', 't')`)
        .then(
          () => 'ok',
          (error: unknown) => describeError(error),
        );
    try {
      const bad = await handle.db.execute(sql`SELECT * FROM no_such_table WHERE x = 'secret-value'`).catch((e) => e);
      expect(describeError(bad)).toBe('database error ER_NO_SUCH_TABLE');
      await user.takeInsertAway();
      let refused = await insert();
      for (let i = 0; i < 5 && !refused.startsWith('database error ER_TABLEACCESS'); i++) refused = await insert();
      expect(refused).toMatch(
        new RegExp(
          `^database error ER_TABLEACCESS_DENIED_ERROR: INSERT command denied to user '${user.name}'@'[^']+' for table \`${database.name}\`\\.\`audit_log\`$`,
        ),
      );
      expect(refused).not.toContain('secret-value');
    } finally {
      await handle.close();
      await user.drop();
      await database.drop();
    }
  });
});
