/**
 * MySQL unreachable without a reset (a network partition that drops packets): the broker
 * reaches its test-owned database through a TCP proxy that the test blackholes. Accepting
 * goes on (Redis holds the messages), health says storing fails, and once the path is back
 * the broker gives up its silent connections and stores the backlog by itself.
 */
import { createConnection } from 'mysql2/promise';
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
import { TcpProxy } from '../support/tcp-proxy.js';

type Health = { status: string; components: Record<string, { status: string; [k: string]: unknown }> };

let workspace: Workspace;
let broker: BrokerProcess;
let agent: Agent;
let proxy: TcpProxy;

beforeAll(async () => {
  workspace = await createWorkspace({});
  const url = new URL(workspace.database.url);
  proxy = await TcpProxy.create(url.hostname, Number(url.port || 3306));
  url.port = String(proxy.port);
  workspace.reconfigure({ database: { url: url.toString(), embedded: 'never', pool_size: 4 } });
  broker = new BrokerProcess(workspace);
  await broker.start();
  agent = mtlsAgent(demoBundle(workspace));
}, 120_000);

afterAll(async () => {
  await agent?.close();
  await broker?.kill('SIGKILL');
  await proxy?.close();
  await workspace?.cleanup();
});

const submit = async (body: string) =>
  (await postJson(agent, broker.url, { sender_number: '+14155550123', message_body: body })).status;
const health = async () => (await getJson(agent, `${broker.url}/api/v1/health`)).body as unknown as Health;
const storedCount = async () => {
  const connection = await createConnection(workspace.database.url);
  try {
    const [rows] = (await connection.query('SELECT COUNT(*) AS n FROM messages')) as unknown as [Array<{ n: number }>];
    return Number(rows[0]!.n);
  } finally {
    await connection.end();
  }
};

describe('MySQL blackholed (packets dropped, no reset)', () => {
  it('keeps accepting, says storing fails, and stores the backlog by itself once the path is back', async () => {
    expect(await submit('before')).toBe(202);
    await waitUntil(async () => (await storedCount()) === 1, 10_000, 'the first message stored');

    proxy.blackhole();
    for (let i = 0; i < 5; i++) expect(await submit(`during ${i}`)).toBe(202);
    // The INSERT under way gets no answer: after database.query_silence_ms (10 s) its
    // connection is dropped, the batch fails and is retried, and health says so.
    const degraded = await waitUntil(
      async () => {
        const body = await health();
        return body.components.store?.status === 'degraded' ? body : undefined;
      },
      40_000,
      'health to say storing fails',
    );
    expect(degraded.components.mysql!.status).toBe('down');
    expect(broker.output).toContain('MySQL connection dropped: its query had no answer');

    // Connections opened before the restore stay mute for good (a partition whose sessions
    // the path forgot): only new ones work, and the broker must make them by itself.
    await proxy.restore();
    await waitUntil(async () => (await storedCount()) === 6, 40_000, 'the backlog stored once the path is back');
    await waitUntil(async () => (await health()).components.store?.status === 'up', 20_000, 'storing healthy again');
    expect(await submit('after')).toBe(202);
    await waitUntil(async () => (await storedCount()) === 7, 20_000, 'a new message stored');
  }, 180_000);
});
