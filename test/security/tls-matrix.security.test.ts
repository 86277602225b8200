/**
 * Who gets in over mTLS, against the real supervisor. Only a registered, valid client
 * certificate from the broker's CA, used for client authentication, submits a message.
 * Every other case is refused — with a structured 401/403 after the handshake (the front
 * asks for a certificate but lets the route decide), or by a failed handshake:
 *
 *   no certificate · self-signed · another CA · expired · not yet valid · revoked ·
 *   not registered · serverAuth-only EKU · keyUsage without digitalSignature ·
 *   TLS 1.0 / 1.1
 *
 * Certificates the CA would never issue are made with its key by hand (forge issuer or
 * the openssl CLI) and registered in the database, so that only the TLS checks stand
 * between them and the API.
 */
import { randomBytes, X509Certificate } from 'node:crypto';
import { type ConnectionOptions, connect } from 'node:tls';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueClientCertificate } from '../../src/pki/issue.js';
import { normalizeSerialHex } from '../../src/pki/serial.js';
import { makeWorkdir, openssl, opensslCa, type Workdir } from '../../src/pki/openssl.test-support.js';
import {
  BrokerProcess,
  createWorkspace,
  demoBundle,
  waitUntil,
  type ClientBundle,
  type Workspace,
} from '../support/broker-harness.js';
import { issueRegisteredClient, registerCertificate, workspaceCa } from '../support/client-certificates.js';
import { runCli } from '../support/mb-cli.js';
import { RawConnection } from '../support/raw-https.js';

const DAY = 86_400_000;
const message = { sender_number: '+14155550123', message_body: 'tls matrix' };

let workspace: Workspace;
let broker: BrokerProcess;
let work: Workdir;
let caPem: string;
const open: RawConnection[] = [];

beforeAll(async () => {
  workspace = await createWorkspace();
  broker = new BrokerProcess(workspace);
  await broker.start();
  work = makeWorkdir('mb-tls-matrix-');
  caPem = workspaceCa(workspace).certPem;
});

afterAll(async () => {
  for (const connection of open) connection.close();
  await broker?.kill('SIGTERM');
  await workspace?.cleanup();
  work?.remove();
});

type Outcome =
  | { refusedBy: 'handshake' }
  | { refusedBy: 'api'; status: number; error_code: unknown }
  | { accepted: true };

/** Connects with these credentials and submits one message: what happened. */
async function attempt(credentials: { cert?: string; key?: string }): Promise<Outcome> {
  let connection: RawConnection;
  try {
    connection = await RawConnection.open(broker.url, { ca: caPem, ...credentials });
  } catch {
    return { refusedBy: 'handshake' };
  }
  open.push(connection);
  try {
    const response = await connection.post(message);
    if (response.status === 202) return { accepted: true };
    expect(response.body).toMatchObject({
      error_code: expect.any(String),
      message: expect.any(String),
      tracking_id: expect.any(String),
      timestamp: expect.any(String),
    });
    return { refusedBy: 'api', status: response.status, error_code: response.body.error_code };
  } catch {
    // TLS 1.3 reports a refused client certificate after the handshake, on first read.
    return { refusedBy: 'handshake' };
  } finally {
    connection.close();
  }
}

/** Refused either way; when the API answers, with this status and code. */
function expectRefused(outcome: Outcome, status: number, code: string): void {
  expect(outcome).not.toEqual({ accepted: true });
  if ('refusedBy' in outcome && outcome.refusedBy === 'api')
    expect({ status: outcome.status, error_code: outcome.error_code }).toEqual({ status, error_code: code });
}

/** A leaf signed by the workspace CA with openssl and hand-written extensions, then registered. */
async function registeredOpensslLeaf(name: string, extensions: string): Promise<ClientBundle> {
  const ca = workspaceCa(workspace);
  const caCert = work.write('ca.crt', ca.certPem);
  const caKey = work.write('ca.key', ca.keyPem);
  const ext = work.write(`${name}.ext`, extensions);
  const keyPath = join(work.dir, `${name}.key`);
  const csrPath = join(work.dir, `${name}.csr`);
  const certPath = join(work.dir, `${name}.crt`);
  const request = openssl([
    'req',
    '-new',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    keyPath,
    '-subj',
    `/O=Message Broker/CN=${name}.default`,
    '-out',
    csrPath,
  ]);
  expect(request.status, request.output).toBe(0);
  const signed = openssl([
    'x509',
    '-req',
    '-in',
    csrPath,
    '-CA',
    caCert,
    '-CAkey',
    caKey,
    '-set_serial',
    `0x${randomBytes(12).toString('hex')}`,
    '-days',
    '30',
    '-sha256',
    '-extfile',
    ext,
    '-out',
    certPath,
  ]);
  expect(signed.status, signed.output).toBe(0);
  const certPem = work.read(`${name}.crt`);
  await registerCertificate(workspace, name, 'default', certPem);
  return { cert: certPem, key: work.read(`${name}.key`), ca: ca.certPem };
}

describe('client certificates', () => {
  it('control: the registered demo certificate submits a message', async () => {
    const { cert, key } = demoBundle(workspace);
    expect(await attempt({ cert, key })).toEqual({ accepted: true });
  });

  it('refuses a connection without a certificate: 401 UNAUTHORIZED', async () => {
    expectRefused(await attempt({}), 401, 'UNAUTHORIZED');
  });

  it('refuses a self-signed certificate with a registered name: 401 CERT_UNTRUSTED', async () => {
    const keyPath = join(work.dir, 'self.key');
    const certPath = join(work.dir, 'self.crt');
    const made = openssl([
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-sha256',
      '-days',
      '30',
      '-subj',
      '/O=Message Broker/CN=demo.default',
      '-keyout',
      keyPath,
      '-out',
      certPath,
      '-addext',
      'extendedKeyUsage=clientAuth',
    ]);
    expect(made.status, made.output).toBe(0);
    expectRefused(await attempt({ cert: work.read('self.crt'), key: work.read('self.key') }), 401, 'CERT_UNTRUSTED');
  });

  it('refuses a certificate from another CA, even registered and with our CA name: 401 CERT_UNTRUSTED', async () => {
    const foreign = issueClientCertificate(opensslCa(work, '/O=Message Broker/CN=Message Broker CA'), {
      commonName: 'foreign.default',
    });
    await registerCertificate(workspace, 'foreign', 'default', foreign.certPem);
    expectRefused(await attempt({ cert: foreign.certPem, key: foreign.keyPem }), 401, 'CERT_UNTRUSTED');
  });

  it('refuses an expired and a not-yet-valid certificate, although registered: 403 CERT_EXPIRED', async () => {
    const expired = await issueRegisteredClient(workspace, 'expired', 'default', {
      notBefore: new Date(Date.now() - 30 * DAY),
      notAfter: new Date(Date.now() - DAY),
    });
    expectRefused(await attempt(expired), 403, 'CERT_EXPIRED');
    const future = await issueRegisteredClient(workspace, 'future', 'default', {
      notBefore: new Date(Date.now() + DAY),
      days: 30,
    });
    expectRefused(await attempt(future), 403, 'CERT_EXPIRED');
  });

  it('refuses a certificate from our CA that is not registered: 403 CERT_UNKNOWN', async () => {
    const stray = issueClientCertificate(workspaceCa(workspace), { commonName: 'stray.default' });
    expectRefused(await attempt({ cert: stray.certPem, key: stray.keyPem }), 403, 'CERT_UNKNOWN');
  });

  it('refuses a revoked certificate (revoked with the CLI, CRL reloaded): 403 CERT_REVOKED or a cut handshake', async () => {
    const revokee = await issueRegisteredClient(workspace, 'revokee', 'default');
    expect(await attempt(revokee)).toEqual({ accepted: true });
    const serial = normalizeSerialHex(new X509Certificate(revokee.cert).serialNumber);
    const logged = broker.output.length;
    const revoked = await runCli(['client', 'revoke', '--serial', serial, '--reason', 'keyCompromise'], {
      configPath: workspace.configPath,
    });
    expect(revoked.code, revoked.stderr).toBe(0);
    await waitUntil(
      async () => broker.output.slice(logged).includes('revocation applied'),
      15_000,
      'the broker to apply the revocation',
    );
    expectRefused(await attempt(revokee), 403, 'CERT_REVOKED');
  });

  it('refuses a registered certificate of our CA made for servers only (EKU serverAuth)', async () => {
    const serverOnly = await issueRegisteredClient(workspace, 'serveronly', 'default', { extKeyUsage: 'serverAuth' });
    expectRefused(await attempt(serverOnly), 401, 'CERT_UNTRUSTED');
  });

  it('refuses a registered certificate of our CA whose keyUsage lacks digitalSignature', async () => {
    const keyless = await registeredOpensslLeaf(
      'kuless',
      'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,keyEncipherment\nextendedKeyUsage=clientAuth\n',
    );
    expectRefused(await attempt(keyless), 401, 'CERT_UNTRUSTED');
    // Control: the same recipe with digitalSignature gets in, so it is the key usage that is refused.
    const proper = await registeredOpensslLeaf(
      'kuproper',
      'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n',
    );
    expect(await attempt(proper)).toEqual({ accepted: true });
  });

  it('refuses registered certificates of our CA without clientAuth: a CA certificate, one without EKU', async () => {
    const subCa = await registeredOpensslLeaf(
      'subca',
      'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign,digitalSignature\nextendedKeyUsage=clientAuth\n',
    );
    expectRefused(await attempt(subCa), 401, 'CERT_UNTRUSTED');
    const noEku = await registeredOpensslLeaf(
      'noeku',
      'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n',
    );
    expectRefused(await attempt(noEku), 401, 'CERT_UNTRUSTED');
  });
});

/**
 * A handshake with the demo client's certificate and these protocol options: `refused`, or
 * `connected with <cipher>`. @SECLEVEL=0 in `ciphers`: our own OpenSSL must be willing to
 * try, so that the broker is the one refusing.
 */
function handshake(options: Pick<ConnectionOptions, 'minVersion' | 'maxVersion' | 'ciphers'>): Promise<string> {
  const { hostname, port } = new URL(broker.url);
  const { cert, key } = demoBundle(workspace);
  return new Promise((resolve) => {
    const socket = connect({
      host: hostname,
      port: Number(port),
      servername: hostname,
      ca: caPem,
      cert,
      key,
      ...options,
    });
    socket.once('secureConnect', () => {
      resolve(`connected with ${socket.getCipher().name}`);
      socket.destroy();
    });
    socket.once('error', () => resolve('refused'));
    socket.once('close', () => resolve('refused'));
  });
}

describe('protocol versions', () => {
  for (const version of ['TLSv1', 'TLSv1.1'] as const) {
    it(`refuses ${version}, whichever side gives up first`, async () => {
      expect(await handshake({ minVersion: version, maxVersion: version, ciphers: 'DEFAULT:@SECLEVEL=0' })).toBe(
        'refused',
      );
    });
  }

  // What a TLS scanner flags: key exchange without forward secrecy, CBC with SHA-1, DHE.
  for (const cipher of ['AES128-GCM-SHA256', 'AES256-SHA', 'ECDHE-RSA-AES128-SHA', 'DHE-RSA-AES128-GCM-SHA256']) {
    it(`refuses TLS 1.2 with ${cipher} (forward secrecy and AEAD only)`, async () => {
      expect(await handshake({ maxVersion: 'TLSv1.2', ciphers: `${cipher}:@SECLEVEL=0` })).toBe('refused');
    });
  }

  it('refuses a renegotiation a TLS 1.2 client starts', async () => {
    const { cert, key } = demoBundle(workspace);
    const connection = await RawConnection.open(broker.url, {
      ca: caPem,
      cert,
      key,
      minVersion: 'TLSv1.2',
      maxVersion: 'TLSv1.2',
    });
    open.push(connection);
    // Refused, the server answers with a no_renegotiation alert (the client's callback may
    // then never run) or ends the connection; allowed, the new handshake completes at once.
    const outcome = await new Promise<string>((resolve) => {
      const timer = setTimeout(() => resolve('no new handshake within 3 s'), 3000);
      connection.socket.once('close', () => resolve('connection closed'));
      const started = connection.socket.renegotiate({ rejectUnauthorized: false }, (error) => {
        clearTimeout(timer);
        resolve(error ? `refused: ${error.message}` : 'renegotiated');
      });
      if (!started) resolve('not started');
    });
    expect(outcome).not.toBe('renegotiated');
    expect(outcome).not.toBe('not started');
  });

  it('control: TLS 1.2 and 1.3 connect and submit', async () => {
    const { cert, key } = demoBundle(workspace);
    for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
      const connection = await RawConnection.open(broker.url, {
        ca: caPem,
        cert,
        key,
        minVersion: version,
        maxVersion: version,
      });
      open.push(connection);
      expect(connection.socket.getProtocol()).toBe(version);
      expect((await connection.post(message)).status).toBe(202);
    }
  });
});
