/**
 * Short version of the `key-mismatch` fault (issue #16): a second broker started from its
 * own checkout — its own freshly generated data key `k1`, pepper `p1` and CA — against the
 * installation's database and Redis refuses to start, naming the key and the fix, and
 * accepts nothing; every `mb` command that touches keys, the CA or the data refuses the
 * same way on that host (and `mb ca init` there does not make a CA of its own); with the
 * first host's secrets and CA copied over it starts; a key id staged on both hosts with
 * different bytes is refused at the second.
 */
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrokerProcess, createWorkspace, type Workspace } from '../support/broker-harness.js';
import { runCli } from '../support/mb-cli.js';

let first: Workspace;
let second: Workspace;
let broker: BrokerProcess;

beforeAll(async () => {
  first = await createWorkspace();
  broker = new BrokerProcess(first);
  await broker.start();
  // Same database and key prefix, everything else its own (secrets, certs, data).
  second = await createWorkspace({
    database: { url: first.database.url },
    redis: { key_prefix: first.prefix },
  });
}, 120_000);

afterAll(async () => {
  await broker?.kill('SIGTERM');
  await second?.cleanup();
  await first?.cleanup();
});

describe('a broker whose keys are not the installation’s', () => {
  it('refuses to start, naming the key, the directory and the fix', async () => {
    const other = new BrokerProcess(second);
    await expect(other.start()).rejects.toThrow(/exited with 1 before listening/);
    expect(other.output).toMatch(/data key k1 in \S+ is not the data key k1 this database knows/);
    expect(other.output).toMatch(/pepper p1/);
    expect(other.output).toMatch(/copy \S+ \(data-keys\.json, pepper\.json\) and the CA/);
    // Refused before its CA bootstrap: no CA, no demo certificate, no CRL of its own.
    expect(existsSync(join(second.dir, 'certs/ca.crt'))).toBe(false);
  });

  it('makes every mb command that touches keys, the CA or the data refuse, before it does anything', async () => {
    for (const args of [
      ['keys', 'status'],
      ['client', 'list'],
      ['user', 'list'],
      ['crl', 'rebuild'],
      ['purge', '--expired'],
      ['backup', '--out', join(second.dir, 'backup')],
    ]) {
      const result = await runCli(args, { configPath: second.configPath });
      expect(result.code, `mb ${args.join(' ')}`).toBe(1);
      expect(result.stderr).toMatch(/data key k1 in \S+ is not the data key k1 this database knows/);
      expect(result.stderr).toMatch(/copy \S+ \(data-keys\.json, pepper\.json\) and the CA/);
    }
    // On the first host the same commands work.
    expect((await runCli(['keys', 'status'], { configPath: first.configPath })).code).toBe(0);
  });

  it('refuses mb ca init, and a start, on a host without the installation’s CA', async () => {
    // Keys copied, CA not: the host would otherwise make a CA of its own.
    const secrets = join(second.dir, 'data/secrets');
    rmSync(secrets, { recursive: true, force: true });
    cpSync(join(first.dir, 'data/secrets'), secrets, { recursive: true });
    rmSync(join(second.dir, 'certs'), { recursive: true, force: true });
    const result = await runCli(['ca', 'init'], { configPath: second.configPath });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/this installation has a CA already .* copy ca\.crt and ca\.key from a running host/);
    const other = new BrokerProcess(second);
    await expect(other.start()).rejects.toThrow(/exited with 1 before listening/);
    expect(other.output).toMatch(/this installation has a CA already .* copy ca\.crt and ca\.key from a running host/);
    expect(existsSync(join(second.dir, 'certs/ca.crt'))).toBe(false);
  });

  it('starts once the first host’s secrets and CA are copied over', async () => {
    const secrets = join(second.dir, 'data/secrets');
    rmSync(secrets, { recursive: true, force: true });
    cpSync(join(first.dir, 'data/secrets'), secrets, { recursive: true });
    mkdirSync(join(second.dir, 'certs'), { recursive: true, mode: 0o700 });
    for (const file of ['ca.crt', 'ca.key'])
      cpSync(join(first.dir, 'certs', file), join(second.dir, 'certs', file), { force: true });
    const other = new BrokerProcess(second);
    try {
      await other.start();
    } finally {
      await other.kill('SIGTERM');
    }
  });

  it('refuses a key staged on the second host under an id the first host staged already, leaving it inactive', async () => {
    const staged = await runCli(['keys', 'rotate', '--stage'], { configPath: first.configPath });
    expect(staged.code, staged.stderr).toBe(0);
    expect(staged.stdout).toMatch(/created key k2 \(staged, not active\)/);
    // The second host has not got the first's file yet and makes a k2 of its own.
    const clash = await runCli(['keys', 'rotate', '--stage'], { configPath: second.configPath });
    expect(clash.code).toBe(1);
    expect(clash.stderr).toMatch(/data key k2 in \S+ is not the data key k2 this database knows/);
    const file = JSON.parse(readFileSync(join(second.dir, 'data/secrets/data-keys.json'), 'utf8')) as {
      active: string;
    };
    expect(file.active).toBe('k1');
  });
});
