/**
 * A connection through Sentinel subscribes to the sentinels (ioredis failoverDetector) to
 * follow a promotion at once. Those subscriptions must not outlive the connection: a CLI
 * command or a stopping actor that quit()s its connection has to be able to end.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestSentinel } from '../support/redis-sentinel.js';
import { TestRedisServer } from '../support/redis-server.js';

const SRC = join(import.meta.dirname, '../../src');
let server: TestRedisServer;
let sentinel: TestSentinel;

beforeAll(async () => {
  server = await TestRedisServer.create();
  sentinel = await TestSentinel.create(server.port);
}, 30_000);

afterAll(async () => {
  await sentinel?.destroy();
  await server?.destroy();
});

/** Runs a module that connects through the sentinel, pings, quits; resolves with its exit code (null: it hung). */
function quitInChild(): Promise<{ code: number | null; output: string }> {
  const code = `
    import { createRedis, whenReady } from ${JSON.stringify(join(SRC, 'queue/redis-connection.ts'))};
    import { loadConfig } from ${JSON.stringify(join(SRC, 'config/config.ts'))};
    const config = loadConfig({ values: { redis: { url: 'redis://127.0.0.1:1', sentinels: [${JSON.stringify(sentinel.address)}] } }, env: {} });
    const redis = createRedis(config, 'cli');
    await whenReady(redis);
    console.log('ping', await redis.ping());
    await redis.quit();
  `;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    for (const stream of [child.stdout, child.stderr]) stream.on('data', (chunk: Buffer) => (output += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.once('exit', (exitCode) => {
      clearTimeout(timer);
      resolve({ code: exitCode, output });
    });
  });
}

describe('a Sentinel connection', () => {
  it('lets the process end after quit() (the failover detector is closed with it)', async () => {
    const { code, output } = await quitInChild();
    expect(output).toContain('ping PONG');
    expect(code).toBe(0);
  }, 40_000);
});
