/** A test-owned three-master Redis Cluster (no replicas), AOF on, on free ports. */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { probeTcp } from '../../src/bootstrap/embedded-services.js';
import { freePort } from './redis-server.js';

export class TestRedisCluster {
  private constructor(
    readonly ports: number[],
    private readonly children: ChildProcess[],
    private readonly dir: string,
  ) {}

  static async create(size = 3): Promise<TestRedisCluster> {
    const dir = mkdtempSync(join(tmpdir(), 'mb-cluster-'));
    const ports: number[] = [];
    const children: ChildProcess[] = [];
    for (let i = 0; i < size; i++) {
      // The bus port is named: port + 10000 may not exist (or be free) for a random port.
      const [port, bus] = [await freePort(), await freePort()];
      ports.push(port);
      children.push(
        spawn(
          'redis-server',
          [
            '--port',
            String(port),
            '--cluster-port',
            String(bus),
            '--bind',
            '127.0.0.1',
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            join(dir, `nodes-${port}.conf`),
            '--dir',
            dir,
            '--appendonly',
            'yes',
            '--appendfilename',
            `aof-${port}`,
            '--appenddirname',
            `aof-${port}`,
            '--save',
            '',
          ],
          { stdio: 'ignore' },
        ),
      );
    }
    const cluster = new TestRedisCluster(ports, children, dir);
    for (const port of ports) {
      const deadline = Date.now() + 10_000;
      while (!(await probeTcp('127.0.0.1', port, 200))) {
        if (Date.now() > deadline) throw new Error('cluster node did not start');
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    await promisify(execFile)('redis-cli', [
      '--cluster',
      'create',
      ...ports.map((p) => `127.0.0.1:${p}`),
      '--cluster-replicas',
      '0',
      '--cluster-yes',
    ]);
    const deadline = Date.now() + 20_000;
    for (const port of ports) {
      const client = new Redis({ port, maxRetriesPerRequest: 1 });
      try {
        while (!String(await client.cluster('INFO')).includes('cluster_state:ok')) {
          if (Date.now() > deadline) throw new Error('cluster did not reach state ok');
          await new Promise((r) => setTimeout(r, 100));
        }
      } finally {
        client.disconnect();
      }
    }
    return cluster;
  }

  get nodes(): string[] {
    return this.ports.map((p) => `127.0.0.1:${p}`);
  }

  async destroy(): Promise<void> {
    await Promise.all(
      this.children.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGKILL');
          }),
      ),
    );
    rmSync(this.dir, { recursive: true, force: true });
  }
}
