/**
 * A test-owned redis-server (AOF on) that a test can stop and start again on the same
 * port, freeze (SIGSTOP) and thaw, optionally as a replica of another.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { probeTcp } from '../../src/bootstrap/embedded-services.js';

/**
 * A port to listen on later (a redis-server, a sentinel, a RabbitMQ node, a chaos broker
 * restarted where its load sends). Taken at random below Linux's ephemeral range
 * (32768–60999): a port the kernel handed out with listen(0) is also the kind it hands
 * out to outgoing connections, and under a busy test run one of those took it before the
 * server started (EADDRINUSE). Checked free by listening on it once.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (free) return port;
    if (attempt > 50) throw new Error('no free port found between 20000 and 32000');
  }
}

export class TestRedisServer {
  private child: ChildProcess | undefined;
  readonly dir = mkdtempSync(join(tmpdir(), 'mb-redis-'));

  constructor(
    readonly port: number,
    private readonly fsync: 'everysec' | 'always' = 'everysec',
    /** Extra `--name value` arguments, e.g. `['--replicaof', '127.0.0.1 6380']`. */
    private readonly extraArgs: readonly string[] = [],
  ) {}

  static async create(
    fsync: 'everysec' | 'always' = 'everysec',
    extraArgs: readonly string[] = [],
  ): Promise<TestRedisServer> {
    const server = new TestRedisServer(await freePort(), fsync, extraArgs);
    await server.start();
    return server;
  }

  /** A replica of `master` (AOF on too), started and caught up. */
  static async replicaOf(master: TestRedisServer): Promise<TestRedisServer> {
    const replica = await TestRedisServer.create(master.fsync, ['--replicaof', '127.0.0.1', String(master.port)]);
    const client = new Redis(replica.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await client.connect();
      const deadline = Date.now() + 15_000;
      while (!/master_link_status:up/.test(await client.info('replication'))) {
        if (Date.now() > deadline) throw new Error('test replica did not catch up with its master');
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      client.disconnect();
    }
    return replica;
  }

  /** SIGSTOP: the process hangs with its sockets open (a frozen VM, a GC-paused host). */
  freeze(): void {
    this.child?.kill('SIGSTOP');
  }

  thaw(): void {
    this.child?.kill('SIGCONT');
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.child = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--dir',
        this.dir,
        '--appendonly',
        'yes',
        '--appendfsync',
        this.fsync,
        '--save',
        '',
        ...this.extraArgs,
      ],
      { stdio: 'ignore' },
    );
    const deadline = Date.now() + 10_000;
    while (!(await probeTcp('127.0.0.1', this.port, 200))) {
      if (Date.now() > deadline) throw new Error('test redis-server did not start');
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill(signal);
    });
  }

  async destroy(): Promise<void> {
    await this.stop('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}
