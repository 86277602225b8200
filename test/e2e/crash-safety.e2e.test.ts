/**
 * The promise: every message that got a 202 is in MySQL exactly once and delivered,
 * through a kill -9 of the whole process in the middle of the load.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from 'undici';
import { createConnection } from 'mysql2/promise';
import {
  BrokerProcess,
  createWorkspace,
  demoBundle,
  mtlsAgent,
  postJson,
  waitUntil,
  type Workspace,
} from '../support/broker-harness.js';
import { TestRedisServer } from '../support/redis-server.js';

let redis: TestRedisServer;
let workspace: Workspace;
let broker: BrokerProcess;

beforeAll(async () => {
  // fsync always on a Redis of its own: the strictest setting is the one to prove, and
  // the machine's shared Redis keeps its own settings.
  redis = await TestRedisServer.create('always');
  workspace = await createWorkspace({ queue: { fsync: 'always' } }, redis.url);
  broker = new BrokerProcess(workspace);
  await broker.start();
});

afterAll(async () => {
  await broker?.kill('SIGKILL');
  await workspace?.cleanup();
  await redis?.destroy();
});

async function countStored(
  ids: string[],
): Promise<{ rows: number; distinct: number; delivered: number; total: number }> {
  const connection = await createConnection({ uri: workspace.database.url });
  try {
    const [[all]] = (await connection.query('SELECT COUNT(*) AS total FROM messages')) as unknown as [
      [{ total: number }],
    ];
    if (ids.length === 0) return { rows: 0, distinct: 0, delivered: 0, total: Number(all.total) };
    const [[row]] = (await connection.query(
      "SELECT COUNT(*) AS rows_, COUNT(DISTINCT message_id) AS distinct_, SUM(status = 'delivered') AS delivered FROM messages WHERE message_id IN (?)",
      [ids],
    )) as unknown as [[{ rows_: number; distinct_: number; delivered: number }]];
    return {
      rows: Number(row.rows_),
      distinct: Number(row.distinct_),
      delivered: Number(row.delivered ?? 0),
      total: Number(all.total),
    };
  } finally {
    await connection.end();
  }
}

describe('kill -9 under load', () => {
  it('loses nothing that got a 202 and stores nothing twice', async () => {
    const total = 2000;
    const acknowledged: string[] = [];
    let indeterminate = 0;
    let refused = 0;
    let sent = 0;
    let killed = false;
    const agent: Agent = mtlsAgent(demoBundle(workspace), 20);

    const sendOne = async (i: number) => {
      try {
        const response = await postJson(agent, broker.url, {
          sender_number: '+14155550123',
          message_body: `crash test ${i}`,
        });
        if (response.status === 202) acknowledged.push(String(response.body.message_id));
        else refused++;
      } catch {
        // The connection died with the process: the client cannot know. Not a 202.
        indeterminate++;
      }
    };

    // Half-way through, the process is killed with requests in flight; the senders wait
    // for the restart and go on with the rest.
    let restarting: Promise<unknown> | undefined;
    const workers = Array.from({ length: 20 }, async () => {
      while (sent < total) {
        const i = sent++;
        if (!killed && i === total / 2) {
          killed = true;
          restarting = broker.kill('SIGKILL').then(() => broker.start());
        }
        if (restarting && i > total / 2 + 40) await restarting;
        await sendOne(i);
      }
    });
    await Promise.all(workers);
    await restarting;
    await agent.close();
    expect(killed).toBe(true);
    expect(acknowledged.length).toBeGreaterThan(total / 2);

    const done = await waitUntil(
      async () => {
        const counts = await countStored(acknowledged);
        return counts.delivered === acknowledged.length ? counts : undefined;
      },
      60_000,
      'every acknowledged message to be stored and delivered',
    );

    expect(done.rows).toBe(acknowledged.length);
    expect(done.distinct).toBe(acknowledged.length);
    // Anything else stored can only come from requests whose answer was lost in the kill.
    expect(done.total - acknowledged.length).toBeLessThanOrEqual(indeterminate);
    console.log(
      `crash test: ${acknowledged.length} acknowledged, ${indeterminate} indeterminate, ${refused} refused, ${done.total} stored`,
    );
  });
});
