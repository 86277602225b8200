/**
 * Short versions of the `redis-evicting` and `redis-full` faults (issue #16): against a
 * Redis of the test's own, an evicting policy is set back to noeviction at start; with
 * `manage_persistence: false` it makes the broker refuse; Redis out of memory turns
 * submits into 503 QUEUE_NOT_DURABLE and /readyz into 503 within seconds, and both
 * recover when Redis has room again. Nothing is acknowledged meanwhile. Before Redis is
 * out of memory, the broker's own limit (90% of maxmemory by default) refuses with 503
 * QUEUE_FULL and not ready, and accepts again once there is headroom.
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
import { scrapeMetrics } from '../support/metrics-scrape.js';
import { TestRedisServer } from '../support/redis-server.js';
import { domainKeys } from '../../src/queue/keys.js';

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

  it('past the broker’s share of maxmemory: 503 QUEUE_FULL and not ready, before Redis is out of memory', async () => {
    // used_memory is 95% of maxmemory: above the broker's 90% by a margin larger than
    // Redis' own ups and downs (client buffers), below Redis' own limit.
    const used = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);
    await redis.config('SET', 'maxmemory', String(Math.floor(used * 1.05)));
    await waitUntil(
      async () => ((await submit()).body.error_code === 'QUEUE_FULL' ? true : undefined),
      10_000,
      'submits refused as queue full',
    );
    const refused = await submit();
    expect(refused.status).toBe(503);
    expect(String((refused.body.details as { cause?: string })?.cause)).toMatch(/broker's limit is \d+/);
    const ready = await getJson(agent, `${broker.url}/readyz`);
    expect(ready.status).toBe(503);
    // The gauges are Redis' INFO as last read (every second): the refusal's reading or a later one.
    const metrics = await waitUntil(
      async () => {
        const scraped = await scrapeMetrics(agent, broker.url);
        const limit = scraped.value('mb_redis_memory_limit_bytes');
        return limit > 0 && scraped.value('mb_redis_memory_used_bytes') >= limit ? scraped : undefined;
      },
      5_000,
      'the memory gauges at the broker’s limit',
    );
    expect(metrics.value('mb_redis_memory_headroom_bytes')).toBe(0);

    await redis.config('SET', 'maxmemory', '0');
    await waitUntil(async () => ((await submit()).status === 202 ? true : undefined), 10_000, 'submits accepted again');
    expect((await getJson(agent, `${broker.url}/readyz`)).status).toBe(200);
  });
});

describe('an evicting policy with redis.manage_persistence: false', () => {
  let ownRedis: TestRedisServer;
  let client: Redis;
  let space: Workspace;
  let other: BrokerProcess;
  let otherAgent: Agent;

  beforeAll(async () => {
    ownRedis = await TestRedisServer.create();
    client = new Redis(ownRedis.url);
    await client.config('SET', 'maxmemory-policy', 'allkeys-lru');
    space = await createWorkspace({ redis: { manage_persistence: false } }, ownRedis.url);
    other = new BrokerProcess(space);
    await other.start();
    otherAgent = mtlsAgent(demoBundle(space));
  }, 120_000);

  afterAll(async () => {
    await otherAgent?.close();
    await other?.kill('SIGTERM');
    await space?.cleanup();
    client?.disconnect();
    await ownRedis?.destroy();
  });

  const submitThere = () =>
    postJson(otherAgent, other.url, { sender_number: '+14155550123', message_body: 'evicting' });

  it('is left alone, and the broker refuses every submit (503) and is not ready', async () => {
    expect(await client.config('GET', 'maxmemory-policy')).toEqual(['maxmemory-policy', 'allkeys-lru']);
    const refused = await submitThere();
    expect(refused.status).toBe(503);
    expect(refused.body.error_code).toBe('QUEUE_NOT_DURABLE');
    expect(String((refused.body.details as { cause?: string })?.cause)).toMatch(/maxmemory-policy allkeys-lru/);
    const ready = await getJson(otherAgent, `${other.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(JSON.stringify(ready.body)).toMatch(/may evict keys/);
    // Nothing was queued.
    expect(await client.xlen(domainKeys(space.prefix, { key_prefix: 'default' }).stream)).toBe(0);
  });

  it('accepts again once the operator sets noeviction', async () => {
    await client.config('SET', 'maxmemory-policy', 'noeviction');
    await waitUntil(async () => ((await submitThere()).status === 202 ? true : undefined), 10_000, 'accepted');
    expect((await getJson(otherAgent, `${other.url}/readyz`)).status).toBe(200);
  });
});
