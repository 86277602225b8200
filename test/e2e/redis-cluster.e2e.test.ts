/**
 * The broker on a three-master Redis Cluster: every broker key carries the prefix's hash
 * tag, so the enqueue script, the multi-stream XREADGROUP, the delivery schedule's Lua
 * claim and MULTI settle, the retention lock and the heartbeat all work as on one node.
 */
import { randomBytes } from 'node:crypto';
import { Cluster } from 'ioredis';
import type { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type DatabaseHandle } from '../../src/db/database.js';
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
import { runCli } from '../support/mb-cli.js';
import { TestDownstream } from '../support/downstream.js';
import { TestRedisCluster } from '../support/redis-cluster.js';
import { registerClient } from '../support/clients.js';

let cluster: TestRedisCluster;
let downstream: TestDownstream;
let workspace: Workspace;
let broker: BrokerProcess;
let database: DatabaseHandle;
let demo: Agent;
const prefix = `{mbc-${randomBytes(4).toString('hex')}}:`;

beforeAll(async () => {
  cluster = await TestRedisCluster.create();
  downstream = await new TestDownstream().start();
  workspace = await createWorkspace(
    {
      redis: { cluster_nodes: cluster.nodes, key_prefix: prefix },
      heartbeat: { interval_ms: 300 },
      domains: [
        { name: 'default' },
        {
          name: 'hooks',
          target: { type: 'webhook', url: downstream.url, secret: 's3cret', ca_file: downstream.caFile },
        },
      ],
    },
    `redis://${cluster.nodes[0]}`,
  );
  broker = new BrokerProcess(workspace);
  await broker.start();
  database = openDatabase({ url: workspace.database.url, poolSize: 2 });
  demo = mtlsAgent(demoBundle(workspace));
});

afterAll(async () => {
  await demo?.close();
  await database?.close();
  await broker?.kill('SIGKILL');
  await workspace?.cleanup();
  await downstream?.stop();
  await cluster?.destroy();
});

describe('Redis Cluster', () => {
  it('refuses a cluster config whose key prefix has no hash tag', async () => {
    const run = await runCli(['keys', 'status', '--config', workspace.configPath], {
      env: { MB_REDIS_KEY_PREFIX: 'mb:' },
    });
    // An invalid config: EX_CONFIG, as for every mb command.
    expect(run.code).toBe(78);
    expect(run.stderr).toMatch(/config error: .*redis.key_prefix must hold a hash tag/);
  });

  it('accepts, stores and delivers by webhook, and the status lookup finds the message', async () => {
    const hooks = mtlsAgent(await registerClient(workspace, 'gw', 'hooks'));
    try {
      const answers = await Promise.all([
        ...Array.from({ length: 20 }, (_, i) =>
          postJson(demo, broker.url, { sender_number: '+14155550123', message_body: `cluster ${i}` }),
        ),
        ...Array.from({ length: 10 }, (_, i) =>
          postJson(hooks, broker.url, { sender_number: '+14155550123', message_body: `hook ${i}` }),
        ),
      ]);
      expect(answers.map((a) => a.status)).toEqual(Array(30).fill(202));
      await waitUntil(
        async () => {
          const [[row]] = (await database.pool.query(
            "SELECT COUNT(*) AS n FROM messages WHERE status = 'delivered'",
          )) as unknown as [[{ n: number }]];
          return Number(row.n) === 30;
        },
        30_000,
        '30 messages stored and delivered',
      );
      expect(new Set(downstream.hits.map((h) => h.body.message_id)).size).toBe(10);
      const lookup = await getJson(demo, `${broker.url}/api/v1/messages/${String(answers[0]!.body.message_id)}`);
      expect(lookup.body).toMatchObject({ status: 'delivered' });
    } finally {
      await hooks.close();
    }
  });

  it('keeps every key in one slot, and mb keys reads the heartbeat through the cluster', async () => {
    const client = new Cluster(cluster.nodes.map((n) => ({ host: '127.0.0.1', port: Number(n.split(':')[1]) })));
    try {
      const slot = Number(await client.call('CLUSTER', 'KEYSLOT', `${prefix}default:stream`));
      for (const key of [`${prefix}hooks:schedule`, `${prefix}instances`, `${prefix}locks:retention`]) {
        expect(Number(await client.call('CLUSTER', 'KEYSLOT', key))).toBe(slot);
      }
    } finally {
      client.disconnect();
    }
    const status = JSON.parse(
      (await runCli(['keys', 'status', '--json', '--config', workspace.configPath])).stdout,
    ) as { instances: unknown[] };
    expect(status.instances).toHaveLength(1);
    // Nothing on the way complained (a CROSSSLOT error would be logged as a warning or error).
    expect(
      broker.output
        .split('\n')
        .filter((line) => /"level":(40|50|60)/.test(line) && !line.includes('created a new certificate authority')),
    ).toEqual([]);
  });
});
