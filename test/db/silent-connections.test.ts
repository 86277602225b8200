/**
 * A pooled connection whose query gets no answer (the path to MySQL blackholed: packets
 * dropped, no reset) is dropped once MySQL, asked over a connection of its own, does not
 * run that query, and the pool works again once the path is back; a query that is merely
 * slow (MySQL running it) is left to finish. Real MariaDB behind a TCP proxy.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isConnectionError, openDatabase, type DatabaseHandle } from '../../src/db/database.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

const SILENCE_MS = 600;
let database: TestDatabase;
let proxy: TcpProxy;
let handle: DatabaseHandle;
const dropped: string[] = [];

beforeAll(async () => {
  database = await createTestDatabase({ migrate: false });
  const url = new URL(database.url);
  proxy = await TcpProxy.create(url.hostname, Number(url.port || 3306));
  url.port = String(proxy.port);
  handle = openDatabase({
    url: url.toString(),
    poolSize: 2,
    querySilenceMs: SILENCE_MS,
    onSilentDropped: (_, why) => dropped.push(why),
  });
});

afterAll(async () => {
  // A pool whose sockets the proxy swallowed would wait for them: destroyed, not ended.
  handle?.pool.pool.end(() => undefined);
  await proxy?.close();
  await database?.drop();
});

const selectOne = () => handle.pool.query('SELECT 1 AS one');

describe('silent MySQL connections', () => {
  it('leaves a slow query MySQL is running to finish', async () => {
    const started = Date.now();
    const [rows] = await handle.pool.query('SELECT SLEEP(2) AS slept');
    expect(rows).toEqual([{ slept: 0 }]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1900);
    expect(dropped).toEqual([]);
  });

  it('drops a connection whose query has no answer while MySQL is unreachable, as a connection error', async () => {
    await selectOne();
    proxy.blackhole();
    const started = Date.now();
    const error = await selectOne().catch((e: unknown) => e);
    expect(isConnectionError(error)).toBe(true);
    // The silence, then the question MySQL cannot answer (its connect timeout: 2 to 5 s).
    expect(Date.now() - started).toBeLessThan(SILENCE_MS + 10_000);
    expect(dropped.at(-1)).toContain('MySQL unreachable');
  }, 20_000);

  it('drops a connection the path lost while MySQL itself answers again, and works on a new one', async () => {
    // Connections opened now stay mute for good once blackholed, as after a partition whose
    // sessions a proxy or firewall forgot; new ones forward again after the restore.
    await proxy.restore();
    await selectOne();
    proxy.blackhole();
    const pending = selectOne().catch((e: unknown) => e);
    await proxy.restore();
    const error = await pending;
    // Dropped as idle on the server (and killed there), or already closed by it: a connection error either way.
    expect(isConnectionError(error)).toBe(true);
    // The pool works again on a new connection.
    const [rows] = await selectOne();
    expect(rows).toEqual([{ one: 1 }]);
  }, 20_000);
});
