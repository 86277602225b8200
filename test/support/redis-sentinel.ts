/** A test-owned Redis Sentinel (redis-server --sentinel) watching one master as `mymaster`. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './redis-server.js';

export class TestSentinel {
  private constructor(
    readonly port: number,
    private readonly child: ChildProcess,
    private readonly dir: string,
  ) {}

  static async create(masterPort: number, name = 'mymaster', downAfterMs = 2000): Promise<TestSentinel> {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'mb-sentinel-'));
    // Sentinel rewrites its config file: it must be a writable file of its own.
    const conf = join(dir, 'sentinel.conf');
    writeFileSync(
      conf,
      `port ${port}\nbind 127.0.0.1\ndir ${dir}\nsentinel monitor ${name} 127.0.0.1 ${masterPort} 1\nsentinel down-after-milliseconds ${name} ${downAfterMs}\nsentinel failover-timeout ${name} 10000\n`,
    );
    const child = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' });
    const sentinel = new TestSentinel(port, child, dir);
    const client = new Redis({ port, lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => 100 });
    client.on('error', () => undefined);
    const deadline = Date.now() + 15_000;
    for (;;) {
      try {
        if (client.status !== 'ready') await client.connect().catch(() => undefined);
        const master = (await client.call('SENTINEL', 'get-master-addr-by-name', name)) as string[] | null;
        if (master?.[1] === String(masterPort)) break;
      } catch {
        // not up yet
      }
      if (Date.now() > deadline) throw new Error('test sentinel did not come up');
      await new Promise((r) => setTimeout(r, 100));
    }
    client.disconnect();
    return sentinel;
  }

  /** The port of the master the sentinel names now (null while it names none). */
  async masterPort(name = 'mymaster'): Promise<number | null> {
    return this.ask(async (client) => {
      const master = (await client.call('SENTINEL', 'get-master-addr-by-name', name)) as string[] | null;
      return master ? Number(master[1]) : null;
    });
  }

  /** Waits until the sentinel knows `count` healthy replicas of the master (it must, to promote one). */
  async waitForReplicas(count: number, name = 'mymaster', timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const healthy = await this.ask(async (client) => {
        const replicas = (await client.call('SENTINEL', 'replicas', name)) as string[][];
        return replicas.filter((flat) => {
          const flags = flat[flat.indexOf('flags') + 1] ?? '';
          return !/s_down|o_down|disconnected/.test(flags);
        }).length;
      }).catch(() => 0);
      if (healthy >= count) return;
      if (Date.now() > deadline) throw new Error(`sentinel did not see ${count} replica(s) in time`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  private async ask<T>(use: (client: Redis) => Promise<T>): Promise<T> {
    const client = new Redis({ port: this.port, lazyConnect: true, maxRetriesPerRequest: 1 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      return await use(client);
    } finally {
      client.disconnect();
    }
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async destroy(): Promise<void> {
    if (this.child.exitCode === null) {
      await new Promise<void>((resolve) => {
        this.child.once('exit', () => resolve());
        this.child.kill('SIGKILL');
      });
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
