/**
 * `mb` with the database down names the driver's reason and the setting to look at,
 * whichever runner the command uses (runCommand's; withContext's, whose failures reach the
 * top-level catch) — never drizzle's `Failed query: <SQL> params: <values>`.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { runCli } from '../support/mb-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'mb-database-down-'));
const configPath = join(dir, 'config.yaml');
// Port 1 on loopback: nothing listens, the connection is refused at once.
writeFileSync(
  configPath,
  stringify({
    // A real Redis (own prefix): the dead-letter commands read it before the database.
    redis: { url: 'redis://127.0.0.1:6379', key_prefix: `mbtest:dbdown:${process.pid}:`, embedded: 'never' },
    database: { url: 'mysql://root@127.0.0.1:1/nothing', embedded: 'never' },
    secrets: { dir: join(dir, 'data/secrets') },
    pki: { dir: join(dir, 'certs') },
    data: { dir: join(dir, 'data') },
    log: { file: '' },
  }),
);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('mb with the database down', () => {
  it.each([[['client', 'list']], [['user', 'list']]])('mb %j says why and where to look, and exits 1', async (args) => {
    const run = await runCli(args, { configPath, cwd: dir, env: { MB_CONFIG: '' } });
    expect(run.stderr).toBe(
      'mb: STORAGE_UNAVAILABLE: The database is unavailable (ECONNREFUSED: is the MySQL/MariaDB of database.url running and reachable?)\n',
    );
    expect(run.code).toBe(1);
  });

  it('mb dead-letter redrive (its audit row) says so too, without the SQL or its parameters', async () => {
    const run = await runCli(['dead-letter', 'redrive', '--domain', 'default', '--all'], {
      configPath,
      cwd: dir,
      env: { MB_CONFIG: '' },
    });
    expect(run.stderr).toBe(
      'mb: a database query failed (ECONNREFUSED): is the MySQL/MariaDB of database.url running and reachable?\n',
    );
    expect(run.stderr).not.toContain('insert into');
    expect(run.code).toBe(1);
  });
});
