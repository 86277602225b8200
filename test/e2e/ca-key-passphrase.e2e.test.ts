/**
 * pki.ca_key_passphrase_file through the real processes: the supervisor's CA actor makes
 * an encrypted CA key on first start and signs with it (the demo client sends), `mb`
 * issues, renews and revokes with it, and `mb` with a wrong passphrase file fails naming it.
 * Also: `mb` tightens a loose certs/ (item 8a) before it writes there.
 */
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openssl } from '../../src/pki/openssl.test-support.js';
import {
  BrokerProcess,
  createWorkspace,
  demoBundle,
  mtlsAgent,
  postJson,
  type Workspace,
} from '../support/broker-harness.js';
import { runCli, runCliJson } from '../support/mb-cli.js';

let workspace: Workspace;
let broker: BrokerProcess;
let passFile: string;

beforeAll(async () => {
  workspace = await createWorkspace();
  passFile = join(workspace.dir, 'ca-passphrase');
  writeFileSync(passFile, 'a passphrase for the CA key\n', { mode: 0o600 });
  workspace.reconfigure({ pki: { ca_key_passphrase_file: passFile } });
  broker = new BrokerProcess(workspace);
  await broker.start();
}, 120_000);
afterAll(async () => {
  await broker?.kill('SIGTERM');
  await workspace?.cleanup();
});

describe('CA key passphrase, end to end', () => {
  it('first start writes an encrypted CA key and signs the demo client with it', async () => {
    const caKey = join(workspace.dir, 'certs/ca.key');
    expect(readFileSync(caKey, 'utf8')).toContain('-----BEGIN ENCRYPTED PRIVATE KEY-----');
    expect(openssl(['pkey', '-in', caKey, '-noout', '-passin', `file:${passFile}`]).status).toBe(0);
    const agent = mtlsAgent(demoBundle(workspace));
    try {
      const response = await postJson(agent, broker.url, { sender_number: '+14155550123', message_body: 'hi' });
      expect(response.status).toBe(202);
    } finally {
      await agent.close();
    }
  });

  it('mb issues, renews and revokes with the passphrase, and names the file when it is wrong', async () => {
    // (And mb tightens a certs/ found 0755, as a git checkout leaves it, before it uses it.)
    chmodSync(join(workspace.dir, 'certs'), 0o755);
    const issued = await runCliJson<{ serial: string; files: { cert: string } }>(
      ['client', 'issue', 'bob', '--domain', 'default', '--out', join(workspace.dir, 'bob')],
      workspace.configPath,
    );
    expect(openssl(['verify', '-CAfile', join(workspace.dir, 'certs/ca.crt'), issued.files.cert]).stdout).toContain(
      ': OK',
    );
    expect(statSync(join(workspace.dir, 'certs')).mode & 0o777).toBe(0o700);
    await runCliJson(['client', 'renew', 'bob.default', '--out', join(workspace.dir, 'bob-2')], workspace.configPath);
    const revoked = await runCli(['client', 'revoke', '--serial', issued.serial, '--reason', 'keyCompromise'], {
      configPath: workspace.configPath,
    });
    expect(revoked.code, revoked.stderr).toBe(0);

    const wrong = join(workspace.dir, 'wrong-passphrase');
    writeFileSync(wrong, 'not the passphrase\n', { mode: 0o600 });
    const refused = await runCli(['client', 'issue', 'carol', '--domain', 'default'], {
      configPath: workspace.configPath,
      env: { MB_PKI_CA_KEY_PASSPHRASE_FILE: wrong },
    });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('CA_KEY_LOCKED');
    expect(refused.stderr).toContain(wrong);
  });

  it('a broker whose passphrase file is wrong does not come up, and its log names the file', async () => {
    await broker.kill('SIGTERM');
    const wrong = join(workspace.dir, 'wrong-passphrase');
    workspace.reconfigure({ pki: { ca_key_passphrase_file: wrong } });
    const started = await broker.start(15_000).then(
      () => true,
      () => false,
    );
    await broker.kill();
    expect(started).toBe(false);
    expect(broker.output).toContain('CA_KEY_LOCKED');
    expect(broker.output).toContain(`could not be decrypted with the passphrase in ${wrong}`);
  }, 60_000);
});
