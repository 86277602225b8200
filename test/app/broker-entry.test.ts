/**
 * The broker's entry, `node dist/supervisor.js`, as an operator runs it: --help,
 * --version and a wrong flag answer at once and never start a broker (each run has a
 * short timeout and an empty working directory, so one that started would fail here).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, SUPERVISOR } from '../support/broker-harness.js';

const pkg = (await import(join(ROOT, 'package.json'), { with: { type: 'json' } })).default as { version: string };
const cwd = mkdtempSync(join(tmpdir(), 'mb-entry-'));
afterAll(() => rmSync(cwd, { recursive: true, force: true }));

function runEntry(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // A broker that started anyway would talk to nothing: Redis and MySQL on closed ports.
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      MB_REDIS_URL: 'redis://127.0.0.1:1',
      MB_DATABASE_URL: 'mysql://root@127.0.0.1:1/x',
    };
    delete env.MB_CONFIG;
    execFile(process.execPath, [SUPERVISOR, ...args], { cwd, env, timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr });
    });
  });
}

describe('node dist/supervisor.js', () => {
  it('--help prints the usage and exits 0', async () => {
    const run = await runEntry(['--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^Usage: node dist\/supervisor\.js \[--config FILE\]/);
    expect(run.stdout).toContain('mb config check');
  });

  it('--version prints the package version and exits 0', async () => {
    expect(await runEntry(['--version'])).toMatchObject({ code: 0, stdout: `${pkg.version}\n` });
  });

  it.each([[['--bogus']], [['--port', '8443']], [['start']], [['--config']]])(
    '%j prints the usage on stderr and exits 2',
    async (args) => {
      const run = await runEntry(args);
      expect(run.code).toBe(2);
      expect(run.stdout).toBe('');
      expect(run.stderr).toContain('Usage: node dist/supervisor.js');
    },
  );

  it('--config FILE reads that file: an invalid one exits 78 naming the key', async () => {
    const file = join(cwd, 'bad.yaml');
    writeFileSync(file, 'delivery:\n  max_attempts: -1\n');
    const run = await runEntry(['--config', file]);
    expect(run.code).toBe(78);
    expect(run.stderr).toContain('delivery.max_attempts');
  });

  it('--config with a missing file exits 78', async () => {
    const run = await runEntry([`--config=${join(cwd, 'missing.yaml')}`]);
    expect(run.code).toBe(78);
    expect(run.stderr).toContain('missing.yaml');
  });
});
