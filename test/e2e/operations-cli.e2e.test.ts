/**
 * The operator's CLI against a fresh, running broker: `mb selftest`, `mb send` (one and
 * many), key and pepper rotation with online re-encryption and retirement, `mb purge`.
 */
import type { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EncryptionService } from '../../src/crypto/encryption.service.js';
import { KeyStore } from '../../src/crypto/key-store.js';
import { openDatabase, type DatabaseHandle } from '../../src/db/database.js';
import {
  BrokerProcess,
  createWorkspace,
  demoBundle,
  getJson,
  mtlsAgent,
  postJson,
  waitUntil,
  type Workspace,
} from '../support/broker-harness.js';
import { runCli } from '../support/mb-cli.js';

let workspace: Workspace;
let broker: BrokerProcess;
let database: DatabaseHandle;
let agent: Agent;

beforeAll(async () => {
  workspace = await createWorkspace({ heartbeat: { interval_ms: 300 }, secrets: { reload_interval_ms: 200 } });
  broker = new BrokerProcess(workspace);
  await broker.start();
  database = openDatabase({ url: workspace.database.url, poolSize: 2 });
  agent = mtlsAgent(demoBundle(workspace));
});

afterAll(async () => {
  await agent?.close();
  await database?.close();
  await broker?.kill('SIGKILL');
  await workspace?.cleanup();
});

const mb = (...args: string[]) => runCli([...args, '--config', workspace.configPath], { cwd: workspace.dir });

async function count(sql: string, params: unknown[] = []): Promise<Record<string, number>> {
  const [rows] = (await database.pool.query(sql, params)) as unknown as [Array<{ k: string; n: number }>];
  return Object.fromEntries(rows.map((r) => [r.k, Number(r.n)]));
}

const storedCount = async () => Number((await count("SELECT 'all' AS k, COUNT(*) AS n FROM messages")).all);

describe('mb selftest', () => {
  it('passes every check against a fresh installation', async () => {
    const run = await mb('selftest', '--url', broker.url);
    expect(run.stdout).toContain('8 checks: 8 passed, 0 warned, 0 failed');
    for (const name of [
      'health',
      'valid message accepted',
      'visible by status lookup',
      'invalid number refused',
      'empty body refused',
      'too long body refused',
      'missing certificate refused',
    ]) {
      expect(run.stdout).toMatch(new RegExp(`PASS  ${name}`));
    }
    expect(run.code).toBe(0);
  });

  it('fails with a non-zero exit when the broker is not there', async () => {
    const run = await mb('selftest', '--url', 'https://localhost:9', '--json');
    expect(run.code).toBe(1);
    const report = JSON.parse(run.stdout) as {
      passed: number;
      failed: number;
      checks: Array<{ ok: boolean; detail: string }>;
    };
    expect(report.passed).toBe(0);
    expect(report.failed).toBeGreaterThan(0);
    expect(report.checks[0]).toMatchObject({ name: 'health', status: 'fail', ok: false });
    expect(report.checks[0]!.detail).toMatch(/ECONNREFUSED/);
  });
});

describe('mb send', () => {
  it('sends one message and prints the answer', async () => {
    const run = await mb('send', '--url', broker.url, '--sender', '+14155550199', '--message', 'one from mb send');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^202 /);
    expect(JSON.parse(run.stdout.slice(4))).toMatchObject({ status: 'queued', client_id: 'demo.default' });
  });

  it('sends many and sums them up', async () => {
    const run = await mb(
      'send',
      '--url',
      broker.url,
      '--count',
      '40',
      '--concurrency',
      '8',
      '--message',
      'load {n}',
      '--json',
    );
    expect(run.code).toBe(0);
    const summary = JSON.parse(run.stdout) as {
      sent: number;
      accepted: number;
      errors: Record<string, number>;
      accepted_per_s: number;
      latency_ms: { p50: number };
    };
    expect(summary).toMatchObject({ sent: 40, accepted: 40, errors: {} });
    expect(summary.accepted_per_s).toBeGreaterThan(0);
    const human = await mb('send', '--url', broker.url, '--count', '5', '--concurrency', '2');
    expect(human.stdout).toMatch(/sent 5 in .* s: 5 accepted/);
    expect(human.stdout).toMatch(/latency ms: p50 /);
  });
});

describe('mb keys', () => {
  it('rotates the data key online: the broker switches at once, old rows are re-encrypted, the old key retires', async () => {
    await waitUntil(async () => (await storedCount()) >= 47, 20_000, 'earlier messages stored');
    const before = await storedCount();
    const rotate = await mb('keys', 'rotate', '--wait-ms', '15000', '--batch', '10');
    expect(rotate.code).toBe(0);
    expect(rotate.stdout).toContain('created key k2; it is active');
    expect(rotate.stdout).toContain('all 1 running broker(s) use k2');
    expect(rotate.stdout).toMatch(new RegExp(`re-encrypted ${before} row\\(s\\) onto k2`));

    // New messages are sealed under k2 by the running broker.
    const sent = await postJson(agent, broker.url, { sender_number: '+14155550123', message_body: 'after rotation' });
    expect(sent.status).toBe(202);
    await waitUntil(async () => (await storedCount()) === before + 1, 10_000, 'new message stored');
    expect(await count('SELECT key_id AS k, COUNT(*) AS n FROM messages GROUP BY key_id')).toEqual({ k2: before + 1 });

    const retire = await mb('keys', 'retire', '--grace-ms', '0');
    expect(retire.stdout).toContain('retired key k1');
    const store = await KeyStore.open(`${workspace.dir}/data/secrets`);
    expect(store.ids('key')).toEqual({ active: 'k2', all: ['k2'], retired: ['k1'], staged: [] });
    // Everything still opens, with k1 gone from the file, and the broker still serves.
    const [rows] = (await database.pool.query('SELECT message_id, body_enc, sender_enc FROM messages')) as unknown as [
      Array<{ message_id: string; body_enc: Buffer; sender_enc: Buffer }>,
    ];
    expect(new EncryptionService(store).open(rows).every((r) => r.ok)).toBe(true);
    const lookup = await getJson(agent, `${broker.url}/api/v1/messages/${String(sent.body.message_id)}`);
    expect(lookup.status).toBe(200);
    expect(broker.output).toContain('encryption keys reloaded');
  });

  it('rotates the pepper: numbers re-hashed, new messages hashed under it, status reports both', async () => {
    const rotate = await mb('keys', 'rotate', '--pepper', '--wait-ms', '15000');
    expect(rotate.code).toBe(0);
    expect(rotate.stdout).toContain('all 1 running broker(s) use p2');
    expect(rotate.stdout).toMatch(/re-hashed \d+ row\(s\) onto p2/);
    const sent = await postJson(agent, broker.url, {
      sender_number: '+14155550123',
      message_body: 'after pepper rotation',
    });
    await waitUntil(
      async () =>
        (
          await count('SELECT message_id AS k, pepper_id AS n FROM messages WHERE message_id = ?', [
            sent.body.message_id,
          ])
        )[String(sent.body.message_id)] !== undefined,
      10_000,
      'stored',
    );
    expect(Object.keys(await count('SELECT pepper_id AS k, COUNT(*) AS n FROM messages GROUP BY pepper_id'))).toEqual([
      'p2',
    ]);

    const status = JSON.parse((await mb('keys', 'status', '--json')).stdout) as {
      key: { active: string; rows: Record<string, number> };
      pepper: { active: string; all: string[] };
      instances: Array<{ keys: { active_key_id: string; pepper_id: string } }>;
    };
    expect(status.key.active).toBe('k2');
    expect(status.pepper).toMatchObject({ active: 'p2', all: ['p1', 'p2'] });
    expect(status.instances).toHaveLength(1);
    expect(status.instances[0]!.keys).toMatchObject({ active_key_id: 'k2', pepper_id: 'p2' });
    // Asked by name while a broker switched moments ago: refused, exit 1.
    const early = await mb('keys', 'retire', '--pepper', 'p1');
    expect(early.code).toBe(1);
    expect(early.stdout).toMatch(/kept p1: broker .* switched to p2/);
  });

  it('leaves a staged pepper alone when old ones are retired, and shows it as staged', async () => {
    // Multi-host rotation: staged, then copied to every host before `mb keys activate`.
    const staged = await mb('keys', 'rotate', '--pepper', '--stage');
    expect(staged.stdout).toContain('created pepper p3 (staged, not active)');
    const retire = await mb('keys', 'retire', '--pepper');
    expect(retire.stdout).not.toContain('p3');
    expect((await mb('keys', 'status')).stdout).toMatch(/p3\s+staged/);
    const store = await KeyStore.open(`${workspace.dir}/data/secrets`);
    expect(store.ids('pepper')).toMatchObject({ active: 'p2', all: ['p1', 'p2', 'p3'], staged: ['p3'] });
  });
});

describe('mb purge', () => {
  it("erases a client's messages and records it", async () => {
    const total = await storedCount();
    const run = await mb('purge', '--client', 'demo');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`erased ${total} message(s) of demo.default`);
    expect(await storedCount()).toBe(0);
    const audit = await count("SELECT action AS k, COUNT(*) AS n FROM audit_log WHERE actor = 'cli' GROUP BY action");
    expect(audit).toMatchObject({ 'messages.purge': 1, 'keys.rotate': 2, 'keys.retire': 1 });
  });
});
