/**
 * `npm pack` gives an installable package: the tarball holds the runtime files and no
 * source or tests, and once installed (into a prefix of its own, dependencies from the
 * npm cache or registry) its `mb` runs. Packs the dist/ that `npm test` built
 * (--ignore-scripts: a prepack build here would rewrite dist/ under the other tests).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../support/broker-harness.js';

let dir: string;
let files: string[] = [];
let tarball = '';

function sh(file: string, args: string[], cwd: string, timeout = 60_000) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.MB_CONFIG;
    for (const key of Object.keys(env)) if (key.startsWith('npm_')) delete env[key];
    execFile(file, args, { cwd, env, timeout, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr });
    });
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mb-pack-'));
  const packed = await sh('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], ROOT);
  expect(packed.code, packed.stderr).toBe(0);
  const [info] = JSON.parse(packed.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
  tarball = join(dir, info!.filename);
  files = info!.files.map((f) => f.path);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('npm pack', () => {
  it('packs the runtime files, the migrations and the docs, and no source or tests', () => {
    for (const file of [
      'package.json',
      'dist/supervisor.js',
      'dist/cli.js',
      'dist/queue/lua/enqueue-n.lua',
      'dist/views/layout.eta',
      'dist/views/partials',
      'dist/portal/assets/portal.css',
      'drizzle/0000_init.sql',
      'drizzle/meta/_journal.json',
      'config.example.yaml',
      'deploy/message-broker.service',
      'LICENSE',
      'README.md',
      'CHANGELOG.md',
      'SECURITY.md',
    ])
      expect(
        files.some((f) => f === file || f.startsWith(`${file}/`)),
        file,
      ).toBe(true);
    expect(files.filter((f) => /^(src|test|bench|chaos|scripts)\//.test(f) || f.endsWith('.test.js'))).toEqual([]);
  });

  it('installs, and the installed mb answers --help and checks a config', async () => {
    const prefix = join(dir, 'prefix');
    const installed = await sh(
      'npm',
      ['install', '--global', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', tarball],
      dir,
      240_000,
    );
    expect(installed.code, installed.stderr).toBe(0);
    const mb = join(prefix, 'bin/mb');
    const help = await sh(mb, ['--help'], dir);
    expect(help.code, help.stderr).toBe(0);
    expect(help.stdout).toContain('Usage: mb');
    writeFileSync(join(dir, 'config.yaml'), 'log:\n  file: ""\n');
    const check = await sh(mb, ['config', 'check'], dir);
    expect(check.code, check.stderr).toBe(0);
    expect(check.stdout).toContain('OK: config.yaml is valid');
    const entry = join(prefix, 'lib/node_modules/message-broker/dist/supervisor.js');
    expect((await sh(process.execPath, [entry, '--help'], dir)).stdout).toContain('Usage: node dist/supervisor.js');
  }, 300_000);
});
