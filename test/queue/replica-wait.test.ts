/**
 * `queue.replicas` against real Redis servers: a batch that too few replicas confirm in
 * time is never answered as durable (503 QUEUE_NOT_REPLICATED, outcome unknown: the master
 * has it), a refusal keeps its own answer, and with a live replica the batch goes through —
 * the wait riding in the batch's one pipeline.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { EnqueuePlanner, queueUnavailable } from '../../src/ingest/enqueue-planner.js';
import type { EnqueueRequest, EnqueueResult } from '../../src/ingest/ingest.types.js';
import { domainKeys } from '../../src/queue/keys.js';
import { ReplicaWait, replicaShortfall, supportsWaitAof } from '../../src/queue/replica-wait.js';
import { defineScripts } from '../../src/queue/scripts.js';
import { TestRedisServer } from '../support/redis-server.js';
import { testSealer } from '../support/test-keys.js';

let master: TestRedisServer;
let replica: TestRedisServer;
let lonely: TestRedisServer;
const clients: Redis[] = [];

beforeAll(async () => {
  [master, lonely] = await Promise.all([TestRedisServer.create(), TestRedisServer.create()]);
  replica = await TestRedisServer.replicaOf(master);
}, 60_000);

afterAll(async () => {
  for (const client of clients) client.disconnect();
  await Promise.all([master, replica, lonely].map((s) => s?.destroy()));
});

const config = loadConfig({
  values: { limits: { rate_limit: 1 }, queue: { replicas: 1, replicas_timeout_ms: 200 } },
  env: {},
});

function connect(server: TestRedisServer): Redis {
  const client = new Redis(server.url, { protocol: 2 });
  clients.push(client);
  defineScripts(client);
  return client;
}

function request(clientId: number): EnqueueRequest {
  const now = new Date().toISOString();
  return {
    client_id: clientId,
    client_name: `c${clientId}`,
    common_name: `c${clientId}.default`,
    domain: 'default',
    idempotency: null,
    tracking_id: randomUUID(),
    timestamp: now,
    messages: [
      { message_id: randomUUID(), sender_number: '+14155550123', message_body: 'hi', metadata: '', queued_at: now },
    ],
  };
}

/** `timeoutMs`: short where no replica can answer (the test waits it out), generous where one must (a busy box). */
async function run(
  redis: Redis,
  requests: EnqueueRequest[],
  timeoutMs = config.queue.replicas_timeout_ms,
): Promise<EnqueueResult[]> {
  const wait = new ReplicaWait(redis, config.queue.replicas, timeoutMs);
  return new EnqueuePlanner(config, testSealer(), wait).run(redis, requests, queueUnavailable);
}

describe('queue.replicas', () => {
  it('a master without replicas: no 202 — 503 QUEUE_NOT_REPLICATED, outcome unknown; a rate refusal stays a refusal', async () => {
    const redis = connect(lonely);
    const started = Date.now();
    // Client 1 has a rate limit of 1: its second request is refused (429), not "not replicated".
    const [first, refused] = await run(redis, [request(1), request(1)]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(150); // it did wait for the replica
    expect(first).toMatchObject({
      ok: false,
      error: { code: 'QUEUE_NOT_REPLICATED', details: { wanted: 1, acknowledged: 0, outcome: 'unknown' } },
    });
    expect(refused).toMatchObject({ ok: true, kind: 'done', positions: [-1] });
    // The master did append it: "unknown", not "not accepted".
    expect(await redis.xlen(domainKeys(config.redis.key_prefix, config.domains[0]!).stream)).toBe(1);
  });

  it('a master with a live replica: the batch is answered, and the replica holds it already', async () => {
    const redis = connect(master);
    const results = await run(redis, [request(2), request(3)], 5_000);
    for (const result of results) expect(result).toMatchObject({ ok: true, kind: 'done' });
    const onReplica = connect(replica);
    expect(await onReplica.xlen(domainKeys(config.redis.key_prefix, config.domains[0]!).stream)).toBe(2);
  });

  it('min-replicas-to-write on the master: refused before anything is appended, and the 503 names NOREPLICAS', async () => {
    const redis = connect(lonely);
    await redis.config('SET', 'min-replicas-to-write', '1');
    try {
      const stream = domainKeys(config.redis.key_prefix, config.domains[0]!).stream;
      const before = await redis.xlen(stream);
      const [result] = await run(redis, [request(4)]);
      expect(result).toMatchObject({ ok: false, error: { code: 'QUEUE_UNAVAILABLE' } });
      expect(JSON.stringify(result)).toMatch(/NOREPLICAS/);
      expect(JSON.stringify(result)).not.toContain('unknown');
      expect(await redis.xlen(stream)).toBe(before);
    } finally {
      await redis.config('SET', 'min-replicas-to-write', '0');
    }
  });

  it('reads from INFO whether enough replicas are online (for the writability watch)', async () => {
    const online = await connect(master).info();
    expect(replicaShortfall(online, 1)).toBeUndefined();
    expect(replicaShortfall(online, 2)).toMatch(/1 replica\(s\) online and queue.replicas asks for 2/);
    expect(replicaShortfall(await connect(lonely).info(), 1)).toMatch(/0 replica\(s\) online/);
    expect(replicaShortfall(await connect(lonely).info(), 0)).toBeUndefined();
    // A replica that is still syncing cannot confirm anything.
    expect(
      replicaShortfall('role:master\r\nslave0:ip=127.0.0.1,port=1,state=wait_bgsave,offset=0,lag=0\r\n', 1),
    ).toMatch(/0 replica/);
  });

  it('uses WAITAOF from Redis 7.2 on', () => {
    expect(supportsWaitAof('# Server\r\nredis_version:7.0.15\r\n')).toBe(false);
    expect(supportsWaitAof('# Server\r\nredis_version:7.2.4\r\n')).toBe(true);
    expect(supportsWaitAof('# Server\r\nredis_version:8.0.1\r\n')).toBe(true);
    expect(supportsWaitAof('')).toBe(false);
  });
});

describe('config', () => {
  it('refuses a replica wait as long as the command timeout', () => {
    expect(() =>
      loadConfig({
        values: { queue: { replicas: 1, replicas_timeout_ms: 1500 }, redis: { command_timeout_ms: 2000 } },
        env: {},
      }),
    ).toThrow(/queue.replicas_timeout_ms \(1500\) must be at most half of redis.command_timeout_ms/);
  });
});
