/**
 * Backup of a running installation and restore onto an empty database with new secrets
 * and PKI directories (a new host): the messages decrypt with the restored keys, the
 * restored broker serves the old clients, and restore refuses to overwrite.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { EncryptionService } from '../../src/crypto/encryption.service.js';
import { KeyStore } from '../../src/crypto/key-store.js';
import { openDatabase } from '../../src/db/database.js';
import {
  BrokerProcess,
  createWorkspace,
  deleteKeys,
  demoBundle,
  mtlsAgent,
  postJson,
  waitUntil,
  type Workspace,
} from '../support/broker-harness.js';
import { runCli } from '../support/mb-cli.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

let source: Workspace;
let broker: BrokerProcess;
let target: TestDatabase;
let restoredDir: string;
let restoredConfig: string;
const backupDir = () => join(source.dir, 'backup');
const sent = new Map<string, string>();

beforeAll(async () => {
  source = await createWorkspace();
  broker = new BrokerProcess(source);
  await broker.start();
  const agent = mtlsAgent(demoBundle(source));
  for (let i = 0; i < 12; i++) {
    const body = `backed-up message ${i} ✓`;
    const answer = await postJson(agent, broker.url, { sender_number: `+1415555010${i % 10}`, message_body: body });
    sent.set(String(answer.body.message_id), body);
  }
  await agent.close();
  const database = openDatabase({ url: source.database.url, poolSize: 1 });
  await waitUntil(
    async () => {
      const [[row]] = (await database.pool.query('SELECT COUNT(*) AS n FROM messages')) as unknown as [[{ n: number }]];
      return Number(row.n) === 12;
    },
    20_000,
    'messages stored',
  );
  await database.close();

  target = await createTestDatabase({ migrate: false });
  restoredDir = mkdtempSync(join(tmpdir(), 'mb-restored-'));
  restoredConfig = join(restoredDir, 'config.yaml');
  const values = structuredClone(source.values) as Record<string, Record<string, unknown>>;
  values.database = { ...values.database, url: target.url };
  values.secrets = { dir: join(restoredDir, 'secrets') };
  values.pki = { dir: join(restoredDir, 'certs') };
  values.data = { dir: join(restoredDir, 'data') };
  values.redis = { ...values.redis, key_prefix: `${source.prefix}restored:` };
  values.instance_id = 'restored' as unknown as Record<string, unknown>;
  writeFileSync(restoredConfig, stringify(values));
});

afterAll(async () => {
  await broker?.kill('SIGKILL');
  await deleteKeys(source.redisUrl, `${source.prefix}restored:`).catch(() => undefined);
  await source?.cleanup();
  await target?.drop();
  rmSync(restoredDir, { recursive: true, force: true });
});

describe('mb backup', () => {
  it('writes the dump and, apart, the keys and CA, owner-only, and warns to store them apart', async () => {
    const run = await runCli(['backup', '--out', backupDir(), '--config', source.configPath]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/backup [0-9a-f-]{36}: 12 message\(s\)/);
    expect(run.stderr).toMatch(/WARNING: .*secrets holds the data keys, the HMAC pepper and the CA private key/);
    const manifest = JSON.parse(readFileSync(join(backupDir(), 'manifest.json'), 'utf8')) as {
      database: { messages: number; tool: string };
    };
    expect(manifest.database.messages).toBe(12);
    const mode = (path: string) => statSync(join(backupDir(), path)).mode & 0o777;
    expect([
      mode(''),
      mode('database.sql'),
      mode('secrets'),
      mode('secrets/keys/data-keys.json'),
      mode('secrets/pki/ca.key'),
    ]).toEqual([0o700, 0o600, 0o700, 0o600, 0o600]);
    // The dump holds ciphertext only: no body in the clear.
    expect(readFileSync(join(backupDir(), 'database.sql'), 'utf8')).not.toContain('backed-up message');

    const again = await runCli(['backup', '--out', backupDir(), '--config', source.configPath]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/is not empty/);
  });
});

describe('mb restore', () => {
  it('restores into an empty database and new secrets dir, and the messages decrypt', async () => {
    const run = await runCli(['restore', '--from', backupDir(), '--config', restoredConfig]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/restored backup .*: 12 message\(s\)/);
    expect(run.stdout).toContain('decrypted 12/12 sampled message(s) with the restored keys');

    const store = await KeyStore.open(join(restoredDir, 'secrets'));
    const database = openDatabase({ url: target.url, poolSize: 1 });
    try {
      const [rows] = (await database.pool.query(
        'SELECT message_id, body_enc, sender_enc FROM messages',
      )) as unknown as [Array<{ message_id: string; body_enc: Buffer; sender_enc: Buffer }>];
      expect(rows).toHaveLength(12);
      const opened = new EncryptionService(store).open(rows);
      rows.forEach((row, i) => {
        expect(opened[i]).toMatchObject({ ok: true, message_body: sent.get(row.message_id) });
      });
    } finally {
      await database.close();
    }
  });

  it('names a directory that is not a backup, and the option to fix', async () => {
    const nowhere = join(source.dir, 'no-such-backup');
    const missing = await runCli(['restore', '--from', nowhere, '--config', restoredConfig]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(
      `mb: ${nowhere} is not a backup: it has no manifest.json; --from takes the directory \`mb backup --out\` wrote\n`,
    );
    const wrongHalf = await runCli([
      'restore',
      '--from',
      backupDir(),
      '--secrets-from',
      backupDir(),
      '--config',
      restoredConfig,
    ]);
    expect(wrongHalf.code).toBe(1);
    expect(wrongHalf.stderr).toContain(
      `${backupDir()} is not a backup: it has no secrets-manifest.json; --secrets-from takes the directory \`mb backup --secrets-out\` wrote`,
    );
  });

  it('refuses to overwrite a database and keys that exist, unless forced', async () => {
    const refused = await runCli(['restore', '--from', backupDir(), '--config', restoredConfig]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      /refusing to overwrite: database .* already has \d+ table\(s\); .* already holds key files; .* already holds a CA key/,
    );
    const forced = await runCli(['restore', '--from', backupDir(), '--config', restoredConfig, '--force']);
    expect(forced.code).toBe(0);
    expect(forced.stdout).toContain('decrypted 12/12');
  });

  it('refuses to restore, even with --force, while a broker runs against the installation', async () => {
    const refused = await runCli(['restore', '--from', backupDir(), '--config', source.configPath, '--force']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/refusing to restore while 1 broker\(s\) run against this installation: .* pid \d+/);
    // Nothing was replaced: the running broker's messages are all still there.
    const database = openDatabase({ url: source.database.url, poolSize: 1 });
    try {
      const [[row]] = (await database.pool.query('SELECT COUNT(*) AS n FROM messages')) as unknown as [[{ n: number }]];
      expect(Number(row.n)).toBe(12);
    } finally {
      await database.close();
    }
  });

  it('the restored installation starts and serves the old clients', async () => {
    await broker.kill('SIGTERM');
    const restored = new BrokerProcess({ ...source, configPath: restoredConfig, dir: restoredDir });
    await restored.start();
    const agent = mtlsAgent(demoBundle(source));
    try {
      const answer = await postJson(agent, restored.url, {
        sender_number: '+14155550123',
        message_body: 'after restore',
      });
      expect(answer.status).toBe(202);
      // The restored broker did not mint a new CA: the old clients' certificates still work.
      expect(restored.output).not.toContain('created a new certificate authority');
    } finally {
      await agent.close();
      await restored.kill('SIGKILL');
    }
  });
});
