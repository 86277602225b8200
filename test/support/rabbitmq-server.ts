/**
 * A test-owned RabbitMQ node (the Debian `rabbitmq-server` package) that a test can kill
 * and start again on the same ports, never the system's node on 5672. Everything it
 * writes (mnesia, logs, config, Erlang cookie: HOME) lives in a temp dir; it registers
 * with the machine's epmd under its own name, mbtest-<random>@localhost.
 *
 * With `tls`, it also listens with TLS on `tlsPort` and requires a client certificate
 * signed by `tls.caFile` (verify_peer + fail_if_no_peer_cert).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { probeTcp } from '../../src/bootstrap/embedded-services.js';
import { createCa } from '../../src/pki/ca.js';
import { issueClientCertificate, issueServerCertificate } from '../../src/pki/issue.js';
import { freePort } from './redis-server.js';

const RABBITMQ_BIN = '/usr/lib/rabbitmq/bin';
const run = promisify(execFile);

export interface RabbitTls {
  caFile: string;
  certFile: string;
  keyFile: string;
}

export class TestRabbitServer {
  private child: ChildProcess | undefined;
  readonly dir = mkdtempSync(join(tmpdir(), 'mb-rabbitmq-'));
  readonly nodeName = `mbtest-${randomBytes(4).toString('hex')}@localhost`;

  private constructor(
    readonly port: number,
    readonly distPort: number,
    readonly tlsPort: number | undefined,
    private readonly tls: RabbitTls | undefined,
  ) {
    mkdirSync(join(this.dir, 'mnesia'));
    mkdirSync(join(this.dir, 'log'));
    writeFileSync(join(this.dir, 'enabled_plugins'), '[].\n');
    const lines = [
      `listeners.tcp.default = 127.0.0.1:${port}`,
      // guest may log in over loopback only by default; the tests connect to 127.0.0.1 anyway.
      'loopback_users.guest = true',
      // The test box is busy and small: no disk or memory alarm should stop publishes.
      'disk_free_limit.absolute = 1MB',
      'vm_memory_high_watermark.relative = 0.9',
      'log.console = false',
      'log.file.level = warning',
    ];
    if (tls && tlsPort)
      lines.push(
        `listeners.ssl.default = 127.0.0.1:${tlsPort}`,
        `ssl_options.cacertfile = ${tls.caFile}`,
        `ssl_options.certfile = ${tls.certFile}`,
        `ssl_options.keyfile = ${tls.keyFile}`,
        'ssl_options.verify = verify_peer',
        'ssl_options.fail_if_no_peer_cert = true',
      );
    writeFileSync(join(this.dir, 'rabbitmq.conf'), `${lines.join('\n')}\n`);
  }

  static async create(options: { tls?: RabbitTls } = {}): Promise<TestRabbitServer> {
    const server = new TestRabbitServer(
      await freePort(),
      await freePort(),
      options.tls ? await freePort() : undefined,
      options.tls,
    );
    await server.start();
    return server;
  }

  /** amqp://guest:guest@127.0.0.1:<port> (plain, loopback). */
  get url(): string {
    return `amqp://guest:guest@127.0.0.1:${this.port}`;
  }

  /** amqps://guest:guest@localhost:<tlsPort> (the server certificate names localhost). */
  get tlsUrl(): string {
    if (!this.tlsPort) throw new Error('this test RabbitMQ was started without TLS');
    return `amqps://guest:guest@localhost:${this.tlsPort}`;
  }

  private get env(): NodeJS.ProcessEnv {
    return {
      ...process.env,
      HOME: this.dir,
      RABBITMQ_NODENAME: this.nodeName,
      RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
      RABBITMQ_NODE_PORT: String(this.port),
      RABBITMQ_DIST_PORT: String(this.distPort),
      RABBITMQ_MNESIA_BASE: join(this.dir, 'mnesia'),
      RABBITMQ_LOG_BASE: join(this.dir, 'log'),
      RABBITMQ_CONFIG_FILE: join(this.dir, 'rabbitmq.conf'),
      RABBITMQ_ENABLED_PLUGINS_FILE: join(this.dir, 'enabled_plugins'),
      RABBITMQ_PID_FILE: join(this.dir, 'rabbitmq.pid'),
    };
  }

  async start(): Promise<void> {
    // Its own process group, so stop() reaches the Erlang VM and its helpers together.
    this.child = spawn(join(RABBITMQ_BIN, 'rabbitmq-server'), [], {
      env: this.env,
      cwd: this.dir,
      stdio: 'ignore',
      detached: true,
    });
    const deadline = Date.now() + 90_000;
    for (;;) {
      if (this.child.exitCode !== null) throw new Error(`test rabbitmq-server exited (${this.child.exitCode})`);
      try {
        await this.ctl('await_startup', '--timeout', '30');
        if (await probeTcp('127.0.0.1', this.port, 500)) break;
      } catch {
        // The node is not registered with epmd yet: await_startup fails at once.
      }
      if (Date.now() > deadline) throw new Error('test rabbitmq-server did not start within 90 s');
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  /** rabbitmqctl against this node (same cookie: same HOME). */
  async ctl(...args: string[]): Promise<string> {
    const { stdout } = await run(join(RABBITMQ_BIN, 'rabbitmqctl'), ['-n', this.nodeName, ...args], {
      env: this.env,
      cwd: this.dir,
      timeout: 60_000,
    });
    return stdout;
  }

  /** SIGKILL: RabbitMQ dies mid-write, as on a crash; SIGTERM: it shuts down cleanly. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    if (!child?.pid || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      process.kill(-child.pid, signal);
    } catch {
      return;
    }
    await exited;
    // The VM may outlive the script that started it by a moment: wait for the port to close.
    const deadline = Date.now() + 30_000;
    while ((await probeTcp('127.0.0.1', this.port, 200)) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async destroy(): Promise<void> {
    await this.stop('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A TLS node and what a broker needs to reach it with a client certificate, all from one test CA. */
export interface TlsRabbit {
  rabbit: TestRabbitServer;
  /** Holds the PEM files; remove it (and destroy the node) after the tests. */
  dir: string;
  /** The amqp target's TLS settings for the broker: the node's CA and a client certificate. */
  target: { ca_file: string; cert_file: string; key_file: string };
}

/** Starts a node that listens with TLS and requires a client certificate; `label` names the CA and the client. */
export async function startTlsRabbit(label: string): Promise<TlsRabbit> {
  const ca = createCa({ commonName: `RabbitMQ ${label} CA`, days: 2 });
  const server = issueServerCertificate(ca, {
    commonName: 'localhost',
    hostnames: ['localhost', '127.0.0.1'],
    days: 2,
  });
  const client = issueClientCertificate(ca, { commonName: `broker.${label.toLowerCase()}`, days: 2 });
  const dir = mkdtempSync(join(tmpdir(), 'mb-rabbit-tls-'));
  const file = (name: string, text: string) => {
    writeFileSync(join(dir, name), text, { mode: 0o644 });
    return join(dir, name);
  };
  const caFile = file('ca.pem', ca.certPem);
  const rabbit = await TestRabbitServer.create({
    tls: { caFile, certFile: file('rabbit.pem', server.certPem), keyFile: file('rabbit.key', server.keyPem) },
  });
  return {
    rabbit,
    dir,
    target: {
      ca_file: caFile,
      cert_file: file('client.pem', client.certPem),
      key_file: file('client.key', client.keyPem),
    },
  };
}
