/**
 * A fresh message's first attempt is handed over by the store batch that stored it: it
 * starts without waiting for the schedule's poll (set to a minute here, so a message that
 * went through the schedule would wait that long), is leased while under way, and settles
 * as every attempt does: delivered in MySQL, off the schedule, its `stored` event before
 * its `delivered` one. A failed first attempt goes on the schedule like any other.
 */
import { Redis } from 'ioredis';
import { createConnection } from 'mysql2/promise';
import type { Agent } from 'undici';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { fromStreamEntry } from '../../src/events/status-event.js';
import { domainKeys } from '../../src/queue/keys.js';
import {
  BrokerProcess,
  createWorkspace,
  demoBundle,
  mtlsAgent,
  postJson,
  waitUntil,
  type Workspace,
} from '../support/broker-harness.js';
import { startDownstream, type Downstream } from '../support/webhook-downstream.js';

const POLL_MS = 60_000;

let downstream: Downstream;
let workspace: Workspace;
let broker: BrokerProcess;
let agent: Agent;
let redis: Redis;

beforeAll(async () => {
  downstream = await startDownstream((body) => (body.message_body === 'refuse-once' ? 503 : 200));
  workspace = await createWorkspace({
    delivery: { poll_interval_ms: POLL_MS, retry_interval_ms: 1000, max_attempts: 3 },
    domains: [
      {
        name: 'default',
        target: { type: 'webhook', url: downstream.url, secret: 'first', ca_file: downstream.caFile },
      },
    ],
  });
  broker = new BrokerProcess(workspace);
  await broker.start();
  agent = mtlsAgent(demoBundle(workspace));
  redis = new Redis(workspace.redisUrl);
});

afterAll(async () => {
  redis?.disconnect();
  await agent?.close();
  await broker?.kill('SIGKILL');
  await workspace?.cleanup();
  await downstream?.close();
});

async function submit(text: string): Promise<string> {
  const response = await postJson(agent, broker.url, { sender_number: '+14155550199', message_body: text });
  expect(response.status).toBe(202);
  return String(response.body.message_id);
}

async function rows(ids: string[]): Promise<Array<{ message_id: string; status: string; attempt_count: number }>> {
  const connection = await createConnection({ uri: workspace.database.url });
  try {
    const [found] = (await connection.query(
      'SELECT message_id, status, attempt_count FROM messages WHERE message_id IN (?)',
      [ids],
    )) as unknown as [Array<{ message_id: string; status: string; attempt_count: number }>];
    return found;
  } finally {
    await connection.end();
  }
}

it('starts first attempts without waiting for the poll, and settles them as any attempt', async () => {
  const ids = await Promise.all(Array.from({ length: 20 }, (_, i) => submit(`hello ${i}`)));
  const started = Date.now();
  await waitUntil(
    async () => ids.every((id) => downstream.hits.some((h) => h.body.message_id === id)),
    10_000,
    'every first attempt',
  );
  expect(Date.now() - started).toBeLessThan(POLL_MS / 2);
  for (const id of ids) {
    const hits = downstream.hits.filter((h) => h.body.message_id === id);
    expect(hits.map((h) => h.body.attempt)).toEqual([1]);
    expect(hits[0]!.body.message_body).toMatch(/^hello \d+$/);
    expect(hits[0]!.body.sender_number).toBe('+14155550199');
  }
  await waitUntil(async () => (await rows(ids)).every((r) => r.status === 'delivered'), 10_000, 'delivered rows');
  expect((await rows(ids)).map((r) => r.attempt_count)).toEqual(ids.map(() => 1));
  const keys = domainKeys(workspace.prefix, { key_prefix: 'default' });
  await waitUntil(async () => (await redis.zcard(keys.inflight)) === 0, 5000, 'no lease left');
  expect(await redis.zcard(keys.schedule)).toBe(0);

  // Per message, `stored` comes before `delivered` in its client's event stream.
  const [eventsKey] = await redis.keys(`${workspace.prefix}events:client:*`);
  const entries = (await redis.xrange(eventsKey!, '-', '+')) as Array<[string, string[]]>;
  const events = entries.map(([entryId, flat]) => fromStreamEntry(entryId, flat));
  const order = (id: string) => events.filter((e) => e?.message_id === id && e.type !== 'queued').map((e) => e?.type);
  for (const id of ids) expect(order(id)).toEqual(['stored', 'delivered']);
});

it('puts a failed first attempt on the schedule, with its retry due', async () => {
  const id = await submit('refuse-once');
  await waitUntil(async () => downstream.hits.some((h) => h.body.message_id === id), 10_000, 'the first attempt');
  const keys = domainKeys(workspace.prefix, { key_prefix: 'default' });
  await waitUntil(async () => (await redis.zscore(keys.schedule, id)) !== null, 5000, 'the retry scheduled');
  expect(await redis.zscore(keys.inflight, id)).toBeNull();
  await waitUntil(async () => (await rows([id]))[0]?.attempt_count === 1, 5000, 'the attempt counted');
  expect((await rows([id]))[0]!.status).toBe('queued');
});
