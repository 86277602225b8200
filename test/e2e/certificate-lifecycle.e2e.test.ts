/**
 * An operator onboards a client, rotates its certificate and cuts it off with the `mb`
 * CLI (a real child process) while the real broker runs — no restart, no openssl by
 * hand; openssl only checks the results. Also: expired and foreign certificates, the
 * CRL and client-certificate health, and the automatic server certificate renewal.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IssuedBundle, CertificateSummary } from '../../src/ca/ca.types.js';
import { openDatabase, type DatabaseHandle } from '../../src/db/database.js';
import { AuditRepository } from '../../src/db/audit.repository.js';
import { CertificatesRepository } from '../../src/db/certificates.repository.js';
import { ClientsRepository } from '../../src/db/clients.repository.js';
import { CertStore } from '../../src/pki/cert-store.js';
import { fingerprintOfPem } from '../../src/pki/fingerprint.js';
import { issueClientCertificate } from '../../src/pki/issue.js';
import { makeWorkdir, openssl, opensslCa } from '../../src/pki/openssl.test-support.js';
import {
  BrokerProcess,
  createWorkspace,
  getJson,
  mtlsAgent,
  waitUntil,
  type Workspace,
} from '../support/broker-harness.js';
import { CLI, runCli, runCliJson } from '../support/mb-cli.js';
import { RawConnection } from '../support/raw-https.js';
import { plantExpiringServerCertificate } from '../support/server-renewal.js';

const DAY = 86_400_000;
const message = { sender_number: '+14155550123', message_body: 'certificate lifecycle' };

let workspace: Workspace;
let broker: BrokerProcess;
let database: DatabaseHandle;
let caPem: string;
const open: RawConnection[] = [];

const certsDir = () => join(workspace.dir, 'certs');
const mb = (...args: string[]) => runCli(args, { configPath: workspace.configPath });
const bundleFiles = (dir: string) => ({
  cert: readFileSync(join(dir, 'client.crt'), 'utf8'),
  key: readFileSync(join(dir, 'client.key'), 'utf8'),
  ca: caPem,
});
async function connectWith(dir: string): Promise<RawConnection> {
  const connection = await RawConnection.open(broker.url, bundleFiles(dir));
  open.push(connection);
  return connection;
}

beforeAll(async () => {
  workspace = await createWorkspace({ pki: { check_interval_ms: 1000 }, bootstrap: { demo_client: false } });
  broker = new BrokerProcess(workspace);
  await broker.start();
  caPem = readFileSync(join(certsDir(), 'ca.crt'), 'utf8');
  database = openDatabase({ url: workspace.database.url, poolSize: 2 });
});

afterAll(async () => {
  for (const connection of open) connection.close();
  await database?.close();
  await broker?.kill('SIGKILL');
  await workspace?.cleanup();
});

describe('mb CLI', () => {
  it('is an executable bin with --help on every command', async () => {
    expect(statSync(CLI).mode & 0o111).not.toBe(0);
    const direct = await runCli(['--help'], { executable: CLI });
    expect(direct.code).toBe(0);
    expect(direct.stdout).toMatch(/Usage: mb/);
    const commands = [
      [],
      ['ca'],
      ['ca', 'init'],
      ['ca', 'show'],
      ['client'],
      ['client', 'issue'],
      ['client', 'renew'],
      ['client', 'revoke'],
      ['client', 'list'],
      ['cert', 'verify'],
      ['crl', 'show'],
      ['crl', 'rebuild'],
    ];
    const helps = await Promise.all(commands.map((command) => runCli([...command, '--help'])));
    for (const [i, help] of helps.entries()) {
      const command = commands[i]!.join(' ');
      expect(help.code, command).toBe(0);
      expect(help.stdout).toContain(`Usage: mb${command ? ' ' : ''}${command}`);
    }
  });

  it('refuses to replace the CA without --force', async () => {
    const again = await mb('ca', 'init');
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('CA_EXISTS');
    expect(readFileSync(join(certsDir(), 'ca.crt'), 'utf8')).toBe(caPem);
    expect(statSync(join(certsDir(), 'ca.key')).mode & 0o777).toBe(0o600);
    const shown = await runCliJson<{ fingerprint: string; subject: string }>(['ca', 'show'], workspace.configPath);
    expect(shown.fingerprint).toBe(fingerprintOfPem(caPem));
    expect(shown.subject).toContain('CN=Message Broker CA');
  });

  it('leaves no empty bundle directory behind when issue or renew is refused', async () => {
    for (const [args, code, cn] of [
      [['client', 'issue', 'eve', '--domain', 'nosuch'], 'UNKNOWN_DOMAIN', 'eve.nosuch'],
      [['client', 'issue', 'Eve', '--domain', 'default'], 'INVALID_PAYLOAD', 'Eve.default'],
      [['client', 'renew', 'nobody.default'], 'CLIENT_NOT_FOUND', 'nobody.default'],
    ] as const) {
      const refused = await mb(...args);
      expect(refused.code, args.join(' ')).toBe(1);
      expect(refused.stderr, args.join(' ')).toContain(code);
      expect(existsSync(join(certsDir(), 'clients', cn)), cn).toBe(false);
    }
  });
});

describe('onboard, rotate and cut off a client without restarting the broker', () => {
  let first: IssuedBundle & { files: { cert: string; key: string; p12?: string }; p12_password?: string };
  let second: IssuedBundle;
  const firstDir = () => join(workspace.dir, 'alice-1');
  const secondDir = () => join(workspace.dir, 'alice-2');

  it('issues a certificate openssl accepts, with the key 0600 and a PKCS#12 bundle', async () => {
    first = await runCliJson(
      ['client', 'issue', 'alice', '--domain', 'default', '--out', firstDir(), '--p12'],
      workspace.configPath,
    );
    expect(first.common_name).toBe('alice.default');
    expect(statSync(first.files.key).mode & 0o777).toBe(0o600);
    expect(openssl(['verify', '-CAfile', join(certsDir(), 'ca.crt'), first.files.cert]).stdout).toContain(': OK');
    const text = openssl(['x509', '-in', first.files.cert, '-noout', '-text']).stdout;
    expect(text).toMatch(/Subject: CN\s*=\s*alice\.default/);
    expect(text).toContain('TLS Web Client Authentication');
    const cert = new X509Certificate(readFileSync(first.files.cert));
    expect(Math.round((Date.parse(cert.validTo) - Date.now()) / DAY)).toBe(365);
    expect(openssl(['pkcs12', '-in', first.files.p12!, '-noout', '-passin', `pass:${first.p12_password}`]).status).toBe(
      0,
    );

    const again = await mb('client', 'issue', 'alice.default');
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('CLIENT_EXISTS');
  });

  it('renews: old and new certificates both work (overlap)', async () => {
    const before = await connectWith(firstDir());
    expect((await before.post(message)).status).toBe(202);
    second = await runCliJson(['client', 'renew', 'alice.default', '--out', secondDir()], workspace.configPath);
    expect(second.serial).not.toBe(first.serial);
    expect(second.common_name).toBe('alice.default');
    const renewed = await connectWith(secondDir());
    expect((await renewed.post(message)).body).toMatchObject({ status: 'queued', client_id: 'alice.default' });
    const oldAgain = await connectWith(firstDir());
    expect((await oldAgain.post(message)).status).toBe(202);
    expect((await before.post(message)).status).toBe(202); // the kept-alive one too
  });

  it('revokes the old certificate: open connections are refused and closed within 1 s, new handshakes fail', async () => {
    const busy = await connectWith(firstDir());
    expect((await busy.post(message)).status).toBe(202);
    const idle = await connectWith(firstDir());
    expect((await idle.post(message)).status).toBe(202);
    const session = busy.session;
    expect(session).toBeDefined();
    // Control: before the revocation that session does resume (no certificate check at all).
    const resumed = await RawConnection.open(broker.url, { ...bundleFiles(firstDir()), session });
    open.push(resumed);
    expect(resumed.resumed).toBe(true);
    const logged = broker.output.length;

    const revoked = await mb('client', 'revoke', '--serial', first.serial, '--reason', 'keyCompromise');
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout).toContain(`revoked ${first.serial}`);
    await waitUntil(
      async () => broker.output.slice(logged).includes('revocation applied'),
      5000,
      'the broker to apply the revocation',
    );
    const appliedAt = Date.now();

    const refused = await busy.post(message);
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ error_code: 'CERT_REVOKED' });
    expect(refused.body.tracking_id).toBeTruthy();
    expect(refused.headers['connection']).toBe('close');
    await Promise.all([busy.closed, idle.closed, resumed.closed]);
    for (const connection of [busy, idle, resumed]) expect(connection.closedAt! - appliedAt).toBeLessThan(1000);

    // A new handshake with the revoked certificate is cut, also when it tries to resume an old session.
    for (const attempt of [{}, { session: session! }]) {
      const fresh = await RawConnection.open(broker.url, { ...bundleFiles(firstDir()), ...attempt });
      open.push(fresh);
      expect(fresh.resumed).toBe(false);
      await expect(fresh.post(message)).rejects.toThrow(/closed/);
    }
    const stillGood = await connectWith(secondDir());
    expect((await stillGood.post(message)).status).toBe(202);
  });

  it('shows the revocation in the list, the CRL and `cert verify`', async () => {
    const list = await runCliJson<CertificateSummary[]>(
      ['client', 'list', '--domain', 'default'],
      workspace.configPath,
    );
    expect(list.find((c) => c.serial === first.serial)).toMatchObject({
      status: 'revoked',
      reason: 'keyCompromise',
      client_name: 'alice',
    });
    expect(list.find((c) => c.serial === second.serial)).toMatchObject({
      status: 'active',
      expiring: false,
      days_left: 364,
    });
    const table = await mb('client', 'list');
    expect(table.stdout).toMatch(/alice\.default\s+\S+\s+revoked/);

    const crlPath = join(certsDir(), 'crl.pem');
    const crl = openssl(['crl', '-in', crlPath, '-CAfile', join(certsDir(), 'ca.crt'), '-noout', '-verify', '-text']);
    expect(crl.output).toContain('verify OK');
    expect(crl.stdout.toLowerCase()).toContain(`serial number: ${first.serial}`);

    const bad = await mb('cert', 'verify', join(firstDir(), 'client.crt'));
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain('NOT VALID: revoked');
    const good = await mb('cert', 'verify', join(secondDir(), 'client.crt'));
    expect(good.code, good.stdout).toBe(0);
    expect(good.stdout).toContain('VALID');
  });

  it('wrote an audit row for each operation', async () => {
    const rows = await new AuditRepository(database.db).list({ limit: 50 });
    const actions = (serial: string) => rows.filter((r) => r.target_id === serial).map((r) => r.action);
    expect(actions(first.serial).sort()).toEqual(['certificate.issue', 'certificate.revoke']);
    expect(actions(second.serial)).toEqual(['certificate.renew']);
    for (const row of rows.filter((r) => r.action.startsWith('certificate.'))) {
      expect(row.actor).toMatch(/^cli:/);
      expect(row.domain).toBe('default');
    }
  });
});

describe('refused certificates', () => {
  it('refuses an expired certificate with 403 CERT_EXPIRED', async () => {
    const store = new CertStore(certsDir());
    const expired = issueClientCertificate(store.loadCa(), {
      commonName: 'old.default',
      notBefore: new Date(Date.now() - 30 * DAY),
      notAfter: new Date(Date.now() - DAY),
    });
    const client = await new ClientsRepository(database.db).ensure({ name: 'old', domain: 'default' });
    await new CertificatesRepository(database.db).insert({
      serial: expired.serialHex,
      client_id: client.id,
      fingerprint: expired.fingerprint256,
      subject_cn: expired.commonName,
      not_before: expired.notBefore,
      not_after: expired.notAfter,
      status: 'active',
    });
    const connection = await RawConnection.open(broker.url, { cert: expired.certPem, key: expired.keyPem, ca: caPem });
    open.push(connection);
    const response = await connection.post(message);
    expect(response.status).toBe(403);
    expect(response.body.error_code).toBe('CERT_EXPIRED');
  });

  it('refuses a certificate from another CA with 401 CERT_UNTRUSTED', async () => {
    // Same subject as ours, the tricky case for anything that compares names only.
    const work = makeWorkdir();
    const foreign = issueClientCertificate(opensslCa(work, '/O=Message Broker/CN=Message Broker CA'), {
      commonName: 'alice.default',
    });
    work.remove();
    const connection = await RawConnection.open(broker.url, { cert: foreign.certPem, key: foreign.keyPem, ca: caPem });
    open.push(connection);
    const response = await connection.post(message);
    expect(response.status).toBe(401);
    expect(response.body.error_code).toBe('CERT_UNTRUSTED');
  });
});

describe('PKI liveness', () => {
  it('reports the CRL and expiring client certificates in health', async () => {
    const agent = mtlsAgent({ ca: caPem });
    try {
      const health = await getJson(agent, `${broker.url}/api/v1/health`);
      const components = health.body.components as Record<string, Record<string, unknown>>;
      expect(components.crl).toMatchObject({ status: 'up', revoked: 1 });
      expect(components.crl!.next_update_s as number).toBeGreaterThan(6 * 86_400);
      expect(components.crl!.age_s as number).toBeLessThan(3600);
      expect(components.client_certificates).toMatchObject({ status: 'up', expiring_within_30_days: 0 });
    } finally {
      await agent.close();
    }
  });

  it('renews a server certificate close to its end and serves the new one without a restart', async () => {
    const served = await plantExpiringServerCertificate(broker.url, certsDir(), caPem);
    expect(Date.parse(served.validTo) - Date.now()).toBeGreaterThan(300 * DAY);
    const audit = await new AuditRepository(database.db).list({ limit: 100 });
    expect(
      audit.some(
        (row) =>
          row.action === 'server_certificate.issue' && (row.details as { reason?: string }).reason === 'expiring',
      ),
    ).toBe(true);
  });
});

describe('renewing three times leaves two active certificates, and a running broker refuses the rest', () => {
  type Renewed = IssuedBundle & {
    overlaps: { serial: string } | null;
    superseded: Array<{ serial: string; fingerprint: string }>;
    crl_number: number | null;
    announced: boolean;
  };
  const dir = (n: number) => join(workspace.dir, `bob-${n}`);
  const bundles: IssuedBundle[] = [];

  it('revokes each certificate older than the overlap as superseded: registry, CRL, open connections, new handshakes', async () => {
    bundles.push(
      await runCliJson<IssuedBundle>(['client', 'issue', 'bob.default', '--out', dir(0)], workspace.configPath),
    );
    // Kept alive across the renewals: the broker must close it once its certificate is superseded.
    const kept = await connectWith(dir(0));
    expect((await kept.post(message)).status).toBe(202);
    const logged = broker.output.length;

    const second = await runCliJson<Renewed>(['client', 'renew', 'bob.default', '--out', dir(1)], workspace.configPath);
    expect(second).toMatchObject({ overlaps: { serial: bundles[0]!.serial }, superseded: [], announced: true });
    bundles.push(second);
    // The text answer names what happened to the client's other certificates.
    const third = await mb('client', 'renew', 'bob.default', '--out', dir(2));
    expect(third.code, third.stderr).toBe(0);
    expect(third.stdout).toContain(`the previous certificate ${second.serial} stays valid until`);
    expect(third.stdout).toContain(`revoked ${bundles[0]!.serial} (superseded`);
    expect(third.stdout).toMatch(/CRL #\d+ signed/);
    const thirdSerial = /^ {2}serial +([0-9a-f]+)$/m.exec(third.stdout)?.[1];
    expect(thirdSerial).toBeDefined();
    bundles.push({ ...bundles[0]!, serial: thirdSerial! });
    const fourth = await runCliJson<Renewed>(['client', 'renew', 'bob.default', '--out', dir(3)], workspace.configPath);
    expect(fourth).toMatchObject({
      overlaps: { serial: bundles[2]!.serial },
      superseded: [{ serial: second.serial, fingerprint: second.fingerprint }],
      announced: true,
    });
    bundles.push(fourth);

    const list = await runCliJson<CertificateSummary[]>(
      ['client', 'list', '--domain', 'default'],
      workspace.configPath,
    );
    const bob = list.filter((c) => c.client_name === 'bob');
    expect(bob).toHaveLength(4);
    expect(
      bob
        .filter((c) => c.status === 'active')
        .map((c) => c.serial)
        .sort(),
    ).toEqual([bundles[2]!.serial, bundles[3]!.serial].sort());
    for (const old of bundles.slice(0, 2))
      expect(bob.find((c) => c.serial === old.serial)).toMatchObject({ status: 'revoked', reason: 'superseded' });

    const crl = openssl([
      'crl',
      '-in',
      join(certsDir(), 'crl.pem'),
      '-CAfile',
      join(certsDir(), 'ca.crt'),
      '-noout',
      '-verify',
      '-text',
    ]);
    expect(crl.output).toContain('verify OK');
    for (const old of bundles.slice(0, 2)) expect(crl.stdout.toLowerCase()).toContain(`serial number: ${old.serial}`);
    expect(crl.stdout).toContain('Superseded');

    await waitUntil(
      async () => broker.output.slice(logged).includes('revocation applied'),
      5000,
      'the broker to apply the revocation',
    );
    await kept.closed; // the open connection of the superseded certificate is dropped
    for (const n of [0, 1]) {
      const fresh = await RawConnection.open(broker.url, bundleFiles(dir(n)));
      open.push(fresh);
      await expect(fresh.post(message), `bob-${n}`).rejects.toThrow(/closed/);
    }
    for (const n of [2, 3]) {
      const still = await connectWith(dir(n));
      expect((await still.post(message)).body, `bob-${n}`).toMatchObject({
        status: 'queued',
        client_id: 'bob.default',
      });
    }
  });

  it('names each superseded certificate in the audit log, with the renewal that superseded it', async () => {
    const rows = await new AuditRepository(database.db).list({ limit: 100 });
    for (const [old, by] of [
      [bundles[0]!, bundles[2]!],
      [bundles[1]!, bundles[3]!],
    ] as const)
      expect(rows.find((r) => r.action === 'certificate.revoke' && r.target_id === old.serial)).toMatchObject({
        domain: 'default',
        details: { client: 'bob', reason: 'superseded', superseded_by: by.serial },
      });
  });
});
