/**
 * Never a 202 for a message that is not durable: Redis down ⇒ 503 QUEUE_UNAVAILABLE, and
 * 202 again once it is back. An actor that dies is restarted and nothing is lost.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request, type Agent } from 'undici';
import { createConnection } from 'mysql2/promise';
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
import { Redis } from 'ioredis';

let redis: TestRedisServer;
let workspace: Workspace;
let broker: BrokerProcess;
let agent: Agent;

beforeAll(async () => {
  redis = await TestRedisServer.create();
  workspace = await createWorkspace({}, redis.url);
  broker = new BrokerProcess(workspace, { MB_FAULT_INJECTION: '1' });
  await broker.start();
  agent = mtlsAgent(demoBundle(workspace));
});

afterAll(async () => {
  await agent?.close();
  await broker?.kill('SIGKILL');
  await workspace?.cleanup();
  await redis?.destroy();
});

const message = (text: string) => ({ sender_number: '+14155550123', message_body: text });

async function deliveredCount(ids: string[]): Promise<number> {
  const connection = await createConnection({ uri: workspace.database.url });
  try {
    const [[row]] = (await connection.query(
      "SELECT COUNT(*) AS n FROM messages WHERE status = 'delivered' AND message_id IN (?)",
      [ids],
    )) as unknown as [[{ n: number }]];
    return Number(row.n);
  } finally {
    await connection.end();
  }
}

describe('Redis outage', () => {
  it('answers 503 QUEUE_UNAVAILABLE while Redis is down and 202 once it is back', async () => {
    const before = await postJson(agent, broker.url, message('before the outage'));
    expect(before.status).toBe(202);

    const logFrom = broker.output.length;
    await redis.stop();
    const during = await Promise.all(
      Array.from({ length: 20 }, (_, i) => postJson(agent, broker.url, message(`during ${i}`))),
    );
    for (const response of during) {
      expect(response.status).toBe(503);
      expect(response.body.error_code).toBe('QUEUE_UNAVAILABLE');
    }
    const ready = await getJson(agent, `${broker.url}/readyz`);
    expect(ready.status).toBe(503);
    // Away for a while: ioredis retries every connection several times a second.
    await new Promise((resolve) => setTimeout(resolve, 3000));

    await redis.start();
    const after = await waitUntil(
      async () => {
        const response = await postJson(agent, broker.url, message('after the outage'));
        return response.status === 202 ? response : undefined;
      },
      15_000,
      'a 202 after Redis came back',
    );
    const ids = [String(before.body.message_id), String(after.body.message_id)];
    await waitUntil(async () => (await deliveredCount(ids)) === 2 || undefined, 20_000, 'both messages to be stored');

    // What the operator reads: each thread with a Redis connection says once that it lost
    // it and once that it is back — not a warning per retry, nor one per refused batch
    // beside the front's line per refused request.
    const lines = broker.output
      .slice(logFrom)
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { level: number; actor: string; msg: string });
    const warned = (msg: string) => lines.filter((l) => l.level >= 40 && l.msg.startsWith(msg));
    expect(warned('redis connection error')).toEqual([]);
    expect(warned('redis refused an append')).toEqual([]);
    const lost = lines.filter((l) => l.msg === 'redis connection lost').map((l) => l.actor);
    expect(lost.sort()).toEqual(['delivery', 'ingest', 'supervisor']);
    const restored = lines.filter((l) => l.msg === 'redis connection restored').map((l) => l.actor);
    expect(restored.sort()).toEqual(['delivery', 'ingest', 'supervisor']);
    // The front still names every refused request (the waits for a 202 add a few).
    expect(warned('request failed').length).toBeGreaterThanOrEqual(during.length);
  });
});

describe('a Redis that lost its data', () => {
  it('takes messages again and says in the log that unstored ones may be lost', async () => {
    const before = await postJson(agent, broker.url, message('before the wipe'));
    expect(before.status).toBe(202);
    await waitUntil(
      async () => (await deliveredCount([String(before.body.message_id)])) === 1 || undefined,
      20_000,
      'stored',
    );
    const logFrom = broker.output.length;
    // A Redis restarted with an empty dataset, as FLUSHALL leaves it: no stream, no group.
    const client = new Redis(redis.url);
    try {
      await client.flushall();
    } finally {
      client.disconnect();
    }
    const after = await waitUntil(
      async () => {
        const response = await postJson(agent, broker.url, message('after the wipe'));
        return response.status === 202 ? response : undefined;
      },
      15_000,
      'a 202 after the wipe',
    );
    await waitUntil(
      async () => (await deliveredCount([String(after.body.message_id)])) === 1 || undefined,
      20_000,
      'stored',
    );
    const linesSince = () =>
      broker.output
        .slice(logFrom)
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as { level: number; msg: string; domains?: string[]; err?: string });
    const isLost = (l: { msg: string }) => l.msg.startsWith('the delivery group was gone from Redis');
    // Actors' lines reach stdout through the main thread: a moment after the row is stored.
    await waitUntil(async () => linesSince().some(isLost) || undefined, 5000, 'the lost-data line');
    const lines = linesSince();
    const lost = lines.filter(isLost);
    expect(lost).toEqual([expect.objectContaining({ level: 50, domains: ['default'] })]);
    expect(lines.filter((l) => l.msg === 'store batch failed; entries stay pending').map((l) => l.err)).toEqual([]);
  });
});

describe('actor crash', () => {
  async function crash(name: string): Promise<void> {
    const response = await request(`${broker.url}/__test/actors/${name}/crash`, { method: 'POST', dispatcher: agent });
    await response.body.dump();
    expect(response.statusCode).toBe(202);
  }

  async function restarts(name: string): Promise<number> {
    const health = await getJson(agent, `${broker.url}/api/v1/health`);
    const components = health.body.components as Record<string, { status: string; restarts: number }>;
    return components[`actor_${name}`]?.status === 'up' ? components[`actor_${name}`]!.restarts : -1;
  }

  it.each(['delivery', 'ingest', 'encryption'])(
    'restarts the %s actor within a second and loses nothing',
    async (name) => {
      const accepted: string[] = [];
      const first = await Promise.all(
        Array.from({ length: 50 }, (_, i) => postJson(agent, broker.url, message(`${name} before ${i}`))),
      );
      for (const r of first) if (r.status === 202) accepted.push(String(r.body.message_id));
      expect(accepted.length).toBe(50);

      const restartsBefore = await restarts(name);
      await crash(name);
      const started = Date.now();
      await waitUntil(async () => (await restarts(name)) > restartsBefore || undefined, 5000, `${name} to restart`);
      // The supervisor respawns after 100 ms; a worker booting on a loaded 2-core box (other
      // test files run beside this one) takes longer to answer ready than on an idle one.
      expect(Date.now() - started).toBeLessThan(5000);

      const second = await Promise.all(
        Array.from({ length: 50 }, (_, i) => postJson(agent, broker.url, message(`${name} after ${i}`))),
      );
      for (const r of second) {
        // A request that met the dead actor is refused (503), never left hanging, never 202'd falsely.
        expect([202, 503]).toContain(r.status);
        if (r.status === 202) accepted.push(String(r.body.message_id));
      }
      await waitUntil(
        async () => (await deliveredCount(accepted)) === accepted.length || undefined,
        30_000,
        'every accepted message to be stored',
      );
    },
  );
});
