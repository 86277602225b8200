/**
 * Every `mb` command refuses an invalid config the same way, before it opens anything:
 * `mb: config error: <key> …` on stderr and exit 78 (EX_CONFIG, as the broker and
 * `mb config check`). The commands built on withContext (dead-letter, keys, purge, backup)
 * exited 1 with the bare message.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/mb-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'mb-config-error-'));
const configPath = join(dir, 'config.yaml');
writeFileSync(configPath, 'redis:\n  key_prefx: "x:"\n');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('mb with an invalid config', () => {
  it.each([
    [['dead-letter', 'list', '--domain', 'default']],
    [['keys', 'status']],
    [['purge', '--expired']],
    [['backup', '--out', join(dir, 'backup')]],
    [['client', 'list']],
    [['user', 'list']],
    [['config', 'check']],
  ])('mb %j exits 78 naming the key', async (args) => {
    const run = await runCli(args, { configPath, cwd: dir, env: { MB_CONFIG: '' } });
    expect(run.stderr).toBe(
      'mb: config error: redis.key_prefx is not a known setting; did you mean redis.key_prefix?\n',
    );
    expect(run.code).toBe(78);
  });
});
