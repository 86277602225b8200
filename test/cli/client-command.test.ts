/**
 * `mb client issue|renew` as a real child process against a workspace's config and
 * database (no broker running): what lands in the bundle directory, and what is refused
 * before anything is written.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorkspace, type Workspace } from '../support/broker-harness.js';
import { runCli } from '../support/mb-cli.js';

let workspace: Workspace;
const mb = (args: string[]) => runCli(args, { configPath: workspace.configPath });
const bundleDir = (cn: string) => join(workspace.dir, 'certs', 'clients', cn);

/** The serial of the certificate in a PKCS#12 file, as openssl reads it. */
function p12Serial(path: string, password: string): string {
  const pem = execFileSync('openssl', ['pkcs12', '-in', path, '-passin', `pass:${password}`, '-nokeys', '-clcerts'], {
    encoding: 'utf8',
  });
  return execFileSync('openssl', ['x509', '-noout', '-serial'], { input: pem, encoding: 'utf8' })
    .trim()
    .replace('serial=', '')
    .toLowerCase();
}

beforeAll(async () => {
  workspace = await createWorkspace({ bootstrap: { demo_client: false } });
  const init = await mb(['ca', 'init']);
  expect(init.code, init.stderr).toBe(0);
}, 120_000);
afterAll(async () => {
  await workspace?.cleanup();
});

describe('mb client', () => {
  it('renew without --p12 removes the client.p12 of the previous certificate, and says so', async () => {
    const issued = await mb(['client', 'issue', 'gw', '--p12']);
    expect(issued.code, issued.stderr).toBe(0);
    const password = /p12 password (\S+)/.exec(issued.stdout)![1]!;
    const first = /serial\s+([0-9a-f]+)/.exec(issued.stdout)![1]!;
    const p12 = join(bundleDir('gw.default'), 'client.p12');
    expect(p12Serial(p12, password)).toBe(first);

    const renewed = await mb(['client', 'renew', 'gw']);
    expect(renewed.code, renewed.stderr).toBe(0);
    // Before: client.p12 stayed beside the new client.key/client.crt, holding the old pair.
    expect(existsSync(p12)).toBe(false);
    expect(renewed.stderr).toContain(`removed ${p12}`);

    const again = await mb(['client', 'renew', 'gw', '--p12']);
    expect(again.code, again.stderr).toBe(0);
    const newest = /serial\s+([0-9a-f]+)/.exec(again.stdout)![1]!;
    expect(p12Serial(p12, /p12 password (\S+)/.exec(again.stdout)![1]!)).toBe(newest);
    expect(readFileSync(join(bundleDir('gw.default'), 'client.crt'), 'utf8')).toContain('BEGIN CERTIFICATE');
  });

  it("list shows each certificate's client status: a disabled client's active certificate says disabled", async () => {
    expect((await mb(['client', 'issue', 'lister'])).code).toBe(0);
    const disabled = await mb(['client', 'disable', 'lister']);
    expect(disabled.stdout).toContain('disabled lister.default');
    const json = await mb(['client', 'list', '--json']);
    expect(json.code, json.stderr).toBe(0);
    const rows = JSON.parse(json.stdout) as Array<{ common_name: string; status: string; client_status: string }>;
    expect(rows.find((r) => r.common_name === 'lister.default')).toMatchObject({
      status: 'active',
      client_status: 'disabled',
    });
    expect(rows.find((r) => r.common_name === 'gw.default')).toMatchObject({ client_status: 'active' });
    const table = await mb(['client', 'list']);
    expect(table.stdout).toMatch(/lister\.default\s+[0-9a-f]+\s+active\s.*CLIENT DISABLED/);
    expect(table.stdout).not.toMatch(/gw\.default.*CLIENT DISABLED/);
    expect((await mb(['client', 'enable', 'lister'])).stdout).toContain('enabled lister.default');
  });

  it("refuses an --out that holds another client's bundle, before signing, and keeps that key", async () => {
    expect((await mb(['client', 'issue', 'first'])).code).toBe(0);
    const dir = bundleDir('first.default');
    const key = readFileSync(join(dir, 'client.key'), 'utf8');
    const refused = await mb(['client', 'issue', 'second', '--out', dir]);
    // Before: second's key and certificate replaced first's, whose key existed nowhere else.
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`CONFLICT: ${dir} already holds the private key of first.default`);
    expect(readFileSync(join(dir, 'client.key'), 'utf8')).toBe(key);
    const listed = JSON.parse((await mb(['client', 'list', '--json'])).stdout) as Array<{ common_name: string }>;
    expect(listed.some((c) => c.common_name === 'second.default')).toBe(false);
    // The client's own bundle is still replaced by its renewal.
    expect((await mb(['client', 'renew', 'first', '--out', dir])).code).toBe(0);
    expect(readFileSync(join(dir, 'client.key'), 'utf8')).not.toBe(key);
  });

  it('list --domain refuses a domain that is not configured instead of printing an empty list', async () => {
    const listed = await mb(['client', 'list', '--domain', 'nope']);
    // Before: an empty table and exit 0, as if the domain had no certificates.
    expect(listed.code).toBe(1);
    expect(listed.stderr).toContain('UNKNOWN_DOMAIN: Domain nope is not configured');
    expect(listed.stdout).toBe('');
    const known = await mb(['client', 'list', '--domain', 'default', '--json']);
    expect(known.code, known.stderr).toBe(0);
    expect(JSON.parse(known.stdout)).toEqual(expect.arrayContaining([expect.objectContaining({ domain: 'default' })]));
  });

  it("refuses a name whose CN would pass 64 characters as the caller's mistake, leaving no directory", async () => {
    const name = 'n'.repeat(64 - '.default'.length + 1);
    const refused = await mb(['client', 'issue', name]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/INVALID_PAYLOAD: .*at most 64.*at most 56/);
    expect(existsSync(bundleDir(`${name}.default`))).toBe(false);
  });
});
