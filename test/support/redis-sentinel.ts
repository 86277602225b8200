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

  static async create(masterPort: number, name = 'mymaster'): Promise<TestSentinel> {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'mb-sentinel-'));
    // Sentinel rewrites its config file: it must be a writable file of its own.
    const conf = join(dir, 'sentinel.conf');
    writeFileSync(
      conf,
      `port ${port}\nbind 127.0.0.1\ndir ${dir}\nsentinel monitor ${name} 127.0.0.1 ${masterPort} 1\nsentinel down-after-milliseconds ${name} 2000\n`,
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
