/**
 * `queue.replicas: 1` through the whole broker: while the master has no replica online,
 * submits are refused before anything is appended (503 QUEUE_NOT_DURABLE naming the
 * replicas, /readyz 503) — never a 202; once a replica follows the master, 202 again, and
 * that message is on the replica before the client hears of it. (A replica lost between
 * two checks: the batch's WAIT answers 503 QUEUE_NOT_REPLICATED, test/queue/replica-wait.test.ts.)
 */
import type { Agent } from 'undici';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { domainKeys } from '../../src/queue/keys.js';
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

let master: TestRedisServer;
let replica: TestRedisServer | undefined;
let workspace: Workspace;
let broker: BrokerProcess;
let agent: Agent;

beforeAll(async () => {
  master = await TestRedisServer.create('always');
  workspace = await createWorkspace({ queue: { fsync: 'always', replicas: 1, replicas_timeout_ms: 300 } }, master.url);
  broker = new BrokerProcess(workspace);
  await broker.start();
  agent = mtlsAgent(demoBundle(workspace));
});

afterAll(async () => {
  await agent?.close();
  await broker?.kill('SIGKILL');
  await workspace?.cleanup();
  await replica?.destroy();
  await master?.destroy();
});

const message = (text: string) => ({ sender_number: '+14155550123', message_body: text });

describe('queue.replicas: 1', () => {
  it('no replica: 503 QUEUE_NOT_DURABLE naming queue.replicas, not ready, never a 202', async () => {
    const responses = await Promise.all(
      Array.from({ length: 5 }, (_, i) => postJson(agent, broker.url, message(`alone ${i}`))),
    );
    for (const response of responses) {
      expect(response.status).toBe(503);
      expect(response.body.error_code).toBe('QUEUE_NOT_DURABLE');
      expect(JSON.stringify(response.body.details)).toMatch(/0 replica\(s\) online and queue.replicas asks for 1/);
    }
    expect((await getJson(agent, `${broker.url}/readyz`)).status).toBe(503);
  });

  it('a replica follows: 202 again, and the replica already holds the message', async () => {
    replica = await TestRedisServer.replicaOf(master);
    const accepted = await waitUntil(
      async () => {
        const response = await postJson(agent, broker.url, message('replicated'));
        return response.status === 202 ? response : undefined;
      },
      15_000,
      'a 202 once a replica follows',
    );
    expect((await getJson(agent, `${broker.url}/readyz`)).status).toBe(200);
    const onReplica = new Redis(replica.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await onReplica.connect();
      const stream = domainKeys(workspace.prefix, { key_prefix: 'default' }).stream;
      const entries = (await onReplica.xrange(stream, '-', '+')) as Array<[string, string[]]>;
      const ids = entries.map(([, fields]) => fields[fields.indexOf('m') + 1]);
      // The delivery actor may have stored the message and deleted its entry already (XDEL
      // reaches the replica too): then the stream's count of entries ever added, which XDEL
      // does not lower, shows the append reached the replica.
      if (!ids.includes(accepted.body.message_id as string)) {
        const added = async (redis: Redis) => {
          const info = (await redis.call('XINFO', 'STREAM', stream)) as unknown[];
          return Number(info[info.indexOf('entries-added') + 1]);
        };
        const onMaster = new Redis(master.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
        try {
          await onMaster.connect();
          const replicaAdded = await added(onReplica);
          expect(replicaAdded).toBeGreaterThan(0);
          expect(replicaAdded).toBe(await added(onMaster));
        } finally {
          onMaster.disconnect();
        }
      }
    } finally {
      onReplica.disconnect();
    }
  });
});
