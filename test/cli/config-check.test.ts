/**
 * `mb config check` as an operator runs it (the real dist/cli.js): a config that names a
 * real CA, server certificate, keys and log directory passes; each kind of broken file is
 * reported by key and path; an invalid config exits 78. Nothing is started and no Redis
 * or database is needed (the config points both at closed ports to prove it).
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { encryptKeyPem, readCaKeyPassphrase } from '../../src/pki/ca-key-passphrase.js';
import { createCa, issueServerCertificate } from '../../src/pki/index.js';
import { runCli } from '../support/mb-cli.js';

let root: string;
let n = 0;

/** A workspace with every file a started broker would have made. */
function workspace(): { dir: string; values: Record<string, unknown>; write(v?: Record<string, unknown>): string } {
  const dir = join(root, `ws-${++n}`);
  const pki = join(dir, 'certs');
  const secrets = join(dir, 'data/secrets');
  mkdirSync(pki, { recursive: true, mode: 0o700 });
  mkdirSync(secrets, { recursive: true, mode: 0o700 });
  mkdirSync(join(dir, 'logs'));
  writeFileSync(join(pki, 'ca.crt'), material.ca.certPem);
  writeFileSync(join(pki, 'ca.key'), material.ca.keyPem, { mode: 0o600 });
  writeFileSync(join(pki, 'server.crt'), material.server.certPem);
  writeFileSync(join(pki, 'server.key'), material.server.keyPem, { mode: 0o600 });
  writeFileSync(join(secrets, 'data-keys.json'), '{"active":"k1","keys":[]}', { mode: 0o600 });
  writeFileSync(join(secrets, 'pepper.json'), '{"active":"p1","peppers":[]}', { mode: 0o600 });
  const values: Record<string, unknown> = {
    redis: { url: 'redis://127.0.0.1:1', embedded: 'never' },
    database: { url: 'mysql://root@127.0.0.1:1/nothing', embedded: 'never' },
    pki: { dir: pki },
    secrets: { dir: secrets },
    data: { dir: join(dir, 'data') },
    log: { file: join(dir, 'logs/broker.log') },
  };
  return {
    dir,
    values,
    write(extra = {}) {
      const path = join(dir, 'config.yaml');
      writeFileSync(path, stringify({ ...values, ...extra }));
      return path;
    },
  };
}

let material: { ca: { certPem: string; keyPem: string }; server: { certPem: string; keyPem: string } };

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'mb-config-check-'));
  const ca = createCa({ commonName: 'Config Check Test CA', days: 30 });
  const server = issueServerCertificate(ca, { commonName: 'localhost', hostnames: ['localhost'], days: 30 });
  material = { ca, server };
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const check = (configPath: string, ...extra: string[]) =>
  runCli(['config', 'check', ...extra], { configPath, cwd: root, env: { MB_CONFIG: '' } });

describe('mb config check', () => {
  it('passes a config whose CA, server certificate, keys and log directory are usable', async () => {
    const ws = workspace();
    const run = await check(ws.write());
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('CA key matches its certificate');
    expect(run.stdout).toContain('server key matches its certificate');
    expect(run.stdout).toMatch(/CA certificate .*Config Check Test CA.*valid until/);
    expect(run.stdout).toMatch(/^OK: .*config\.yaml is valid \(1 domain\(s\)/m);
    expect(run.stdout).not.toContain('PROBLEM');
  });

  it('notes what a first start would create, and still passes', async () => {
    const ws = workspace();
    const path = ws.write({ pki: { dir: join(ws.dir, 'fresh-certs') }, secrets: { dir: join(ws.dir, 'fresh-keys') } });
    const run = await check(path);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/note .*pki\.dir .*fresh-certs: does not exist yet/);
    expect(run.stdout).toMatch(/note .*secrets\.dir .*fresh-keys: does not exist yet/);
  });

  it('reports each unusable file by key and path, and exits 1', async () => {
    const ws = workspace();
    // The CA key of another certificate, half a key store, a directory where the log
    // file should be, and a downstream CA file that is not there.
    writeFileSync(join(ws.dir, 'certs/ca.key'), material.server.keyPem);
    rmSync(join(ws.dir, 'data/secrets/pepper.json'));
    mkdirSync(join(ws.dir, 'logs/broker.log'));
    const path = ws.write({
      domains: [
        {
          name: 'acme',
          target: { type: 'webhook', url: 'https://example.test/in', secret: 's', ca_file: join(ws.dir, 'no-ca.pem') },
        },
      ],
      bootstrap: { demo_client: false },
    });
    const run = await check(path);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/PROBLEM pki\.dir .*ca\.key: CA key does not match its certificate/);
    expect(run.stdout).toMatch(/PROBLEM secrets\.dir .*holds data-keys\.json but not pepper\.json/);
    expect(run.stdout).toMatch(/PROBLEM log\.file .*broker\.log: is a directory/);
    expect(run.stdout).toMatch(/PROBLEM domains\[0\]\.target\.ca_file .*no-ca\.pem: does not exist/);
    expect(run.stderr).toMatch(/FAILED: 4 problem\(s\)/);
  });

  it("reads an amqp target's client certificate and checks its key_file against it", async () => {
    const ws = workspace();
    const cert = join(ws.dir, 'amqp-client.crt');
    writeFileSync(cert, material.server.certPem);
    const amqp = (keyFile: string) =>
      ws.write({
        domains: [
          {
            name: 'acme',
            target: { type: 'amqp', url: 'amqps://rabbit.example.test', cert_file: cert, key_file: keyFile },
          },
        ],
        bootstrap: { demo_client: false },
      });
    const matching = join(ws.dir, 'amqp-client.key');
    writeFileSync(matching, material.server.keyPem, { mode: 0o600 });
    const good = await check(amqp(matching));
    expect(good.code).toBe(0);
    expect(good.stdout).toMatch(/ok .*domains\[0\]\.target\.cert_file .*client certificate .*valid until/);
    expect(good.stdout).toMatch(/ok .*domains\[0\]\.target\.key_file .*client key matches its certificate/);
    const other = join(ws.dir, 'other.key');
    writeFileSync(other, material.ca.keyPem, { mode: 0o600 });
    const bad = await check(amqp(other));
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(
      /PROBLEM domains\[0\]\.target\.key_file .*other\.key: client key does not match its certificate/,
    );
  });

  it('opens an encrypted CA key with pki.ca_key_passphrase_file, and names the file when the passphrase is wrong or missing', async () => {
    const ws = workspace();
    const passFile = join(ws.dir, 'ca-passphrase');
    writeFileSync(passFile, 'sesame sesame sesame\n', { mode: 0o600 });
    const caKey = join(ws.dir, 'certs/ca.key');
    writeFileSync(caKey, encryptKeyPem(material.ca.keyPem, readCaKeyPassphrase(passFile)!), { mode: 0o600 });

    const good = await check(ws.write({ pki: { dir: join(ws.dir, 'certs'), ca_key_passphrase_file: passFile } }));
    expect(good.code).toBe(0);
    expect(good.stdout).toContain('CA key matches its certificate');

    const wrongFile = join(ws.dir, 'wrong-passphrase');
    writeFileSync(wrongFile, 'open barley\n', { mode: 0o600 });
    const wrong = await check(ws.write({ pki: { dir: join(ws.dir, 'certs'), ca_key_passphrase_file: wrongFile } }));
    expect(wrong.code).toBe(1);
    expect(wrong.stdout).toMatch(
      /PROBLEM pki\.ca_key_passphrase_file .*could not be decrypted with the passphrase in .*wrong-passphrase/,
    );

    const missing = await check(ws.write());
    expect(missing.code).toBe(1);
    expect(missing.stdout).toMatch(
      /PROBLEM pki\.ca_key_passphrase_file .*is encrypted, and no passphrase is configured/,
    );
  });

  it('notes a certs/ directory open to others (the broker tightens it at start)', async () => {
    const ws = workspace();
    chmodSync(join(ws.dir, 'certs'), 0o755);
    const run = await check(ws.write());
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/note .*pki\.dir .*certs: mode 755: the broker tightens it to 0700 at start/);
  });

  it('reports a corrupt certificate and key files open to others', async () => {
    const ws = workspace();
    writeFileSync(
      join(ws.dir, 'certs/server.crt'),
      '-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n',
    );
    chmodSync(join(ws.dir, 'data/secrets/data-keys.json'), 0o644);
    const run = await check(ws.write(), '--json');
    expect(run.code).toBe(1);
    const report = JSON.parse(run.stdout) as {
      ok: boolean;
      findings: Array<{ level: string; key: string; path: string }>;
    };
    expect(report.ok).toBe(false);
    const problems = report.findings.filter((f) => f.level === 'problem').map((f) => f.path);
    expect(problems).toEqual([join(ws.dir, 'certs/server.crt'), join(ws.dir, 'data/secrets/data-keys.json')]);
  });

  it('warns, and still passes, when webhook shares cannot all be had within delivery.concurrency', async () => {
    const ws = workspace();
    const webhook = (name: string, share: number) => ({
      name,
      target: { type: 'webhook', url: `https://${name}.example.test/in`, secret: 's' },
      concurrency_share: share,
    });
    const run = await check(
      ws.write({
        delivery: { concurrency: 64 },
        domains: [{ name: 'default' }, webhook('acme', 40), webhook('beta', 0), webhook('gamma', 0)],
      }),
    );
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(
      /WARNING delivery\.concurrency +the webhook domains' guaranteed shares add up to 82 \(acme 40, beta 21, gamma 21\), more than delivery\.concurrency 64/,
    );
    expect(run.stdout).toMatch(/^OK: .*; \d+ note\(s\), 1 warning\(s\)$/m);
  });

  it('exits 78 with the bad key named when the config itself is invalid', async () => {
    const ws = workspace();
    const run = await check(ws.write({ delivery: { max_attempts: 0 } }));
    expect(run.code).toBe(78);
    expect(run.stderr).toContain('delivery.max_attempts');
    expect(readFileSync(join(ws.dir, 'config.yaml'), 'utf8')).toContain('max_attempts');
  });

  it('with --json, says so on stdout too when the config itself is invalid (a script reads stdout)', async () => {
    const ws = workspace();
    const configPath = ws.write({ redis: { key_prefx: 'x:' } });
    const run = await check(configPath, '--json');
    expect(run.code).toBe(78);
    expect(JSON.parse(run.stdout)).toEqual({
      ok: false,
      config: configPath,
      error: 'redis.key_prefx is not a known setting; did you mean redis.key_prefix?',
      findings: [],
    });
    expect(run.stderr).toContain('mb: config error: redis.key_prefx');
  });

  it('exits 78 when the file named by --config does not exist', async () => {
    const run = await check(join(root, 'missing.yaml'));
    expect(run.code).toBe(78);
    expect(run.stderr).toContain('missing.yaml');
  });
});
