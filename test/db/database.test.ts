import { randomBytes } from 'node:crypto';
import { createConnection } from 'mysql2/promise';
import { describe, expect, it } from 'vitest';
import { sql } from '../../src/db/drizzle.js';
import { BrokerError } from '../../src/errors.js';
import { ensureDatabase, isConnectionError, isDuplicateKeyError, openDatabase } from '../../src/db/database.js';
import { createTestDatabase } from '../support/test-database.js';
import { databaseErrorCode } from '../../src/db/database.js';

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
    const root = await createConnection({ uri: new URL('/', database.url).toString() });
    const user = `mbg_${randomBytes(4).toString('hex')}`;
    const on = `\`${database.name}\`.*`;
    const handle = openDatabase({
      url: Object.assign(new URL(database.url), { username: user, password: 'pw' }).toString(),
      poolSize: 2,
      privilegeRefreshMs: 200,
    });
    const insert = () =>
      handle.db.execute(sql`INSERT INTO audit_log (actor, action, target_type) VALUES ('t', 'grant.test', 't')`).then(
        () => 'ok',
        (error: unknown) => databaseErrorCode(error) ?? String(error),
      );
    try {
      await root.query(`CREATE USER '${user}'@'%' IDENTIFIED BY 'pw'`);
      await root.query(`GRANT ALL ON ${on} TO '${user}'@'%'`);
      expect(await insert()).toBe('ok');
      // Taken away, and the pool's connections made again (killed, or their idle time out).
      await root.query(`REVOKE ALL ON ${on} FROM '${user}'@'%'`);
      await root.query(`GRANT SELECT, UPDATE, DELETE ON ${on} TO '${user}'@'%'`);
      const [open] = (await root.query('SELECT id FROM information_schema.processlist WHERE user = ?', [user])) as [
        Array<{ id: number }>,
        unknown,
      ];
      for (const { id } of open) await root.query(`KILL ${id}`);
      expect(await insert()).toBe('ER_TABLEACCESS_DENIED_ERROR');
      // Given back: the connections the pool holds were made without it.
      await root.query(`GRANT INSERT ON ${on} TO '${user}'@'%'`);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect([await insert(), await insert(), await insert()]).toEqual(['ok', 'ok', 'ok']);
    } finally {
      await handle.close();
      await root.query(`DROP USER IF EXISTS '${user}'@'%'`);
      await root.end();
      await database.drop();
    }
  });
});
