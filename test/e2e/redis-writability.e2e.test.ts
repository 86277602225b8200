/**
 * Short versions of the `redis-evicting` and `redis-full` faults (issue #16): against a
 * Redis of the test's own, an evicting policy is set back to noeviction at start; with
 * `manage_persistence: false` it makes the broker refuse; Redis out of memory turns
 * submits into 503 QUEUE_NOT_DURABLE and /readyz into 503 within seconds, and both
 * recover when Redis has room again. Nothing is acknowledged meanwhile.
 */
import { Redis } from 'ioredis';
import type { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BrokerProcess,
  createWorkspace,
  demoBundle,
  getJson,
  mtlsAgent,
  postJson,
  waitUntil,
  type Workspace,
} from '../support/broker-harness.js';
import { TestRedisServer } from '../support/redis-server.js';

let redisServer: TestRedisServer;
let redis: Redis;
let workspace: Workspace;
let broker: BrokerProcess;
let agent: Agent;

beforeAll(async () => {
  redisServer = await TestRedisServer.create();
  redis = new Redis(redisServer.url);
  // An evicting policy before the broker starts: it must put noeviction back (manage_persistence).
  await redis.config('SET', 'maxmemory-policy', 'allkeys-lru');
  workspace = await createWorkspace({}, redisServer.url);
  broker = new BrokerProcess(workspace);
  await broker.start();
  agent = mtlsAgent(demoBundle(workspace));
}, 120_000);

afterAll(async () => {
  await agent?.close();
  await broker?.kill('SIGTERM');
  await workspace?.cleanup();
  redis?.disconnect();
  await redisServer?.destroy();
});

const submit = () => postJson(agent, broker.url, { sender_number: '+14155550123', message_body: 'writability' });

describe('Redis that cannot keep messages', () => {
  it('had its evicting policy set back to noeviction at start', async () => {
    expect(await redis.config('GET', 'maxmemory-policy')).toEqual(['maxmemory-policy', 'noeviction']);
    expect((await submit()).status).toBe(202);
  });

  it('out of memory: submits 503 QUEUE_NOT_DURABLE and not ready, then back when there is room', async () => {
    await redis.config('SET', 'maxmemory', '1');
    await waitUntil(
      async () => ((await submit()).body.error_code === 'QUEUE_NOT_DURABLE' ? true : undefined),
      10_000,
      'submits refused as not durable',
    );
    const refused = await submit();
    expect(refused.status).toBe(503);
    expect(String((refused.body.details as { cause?: string })?.cause)).toMatch(/out of memory/);
    const ready = await getJson(agent, `${broker.url}/readyz`);
    expect(ready.status).toBe(503);

    await redis.config('SET', 'maxmemory', '0');
    await waitUntil(async () => ((await submit()).status === 202 ? true : undefined), 10_000, 'submits accepted again');
    expect((await getJson(agent, `${broker.url}/readyz`)).status).toBe(200);
  });
});
