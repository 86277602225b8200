/**
 * A webhook backlog drains at the downstream's pace, within the delivery cap. Attempts that
 * wait on the schedule take each freed slot as soon as it is free, not at the next poll:
 * before, a backlog (after an outage, or a burst the first attempts could not all take)
 * drained at `delivery.concurrency` attempts per `poll_interval_ms` (64 ÷ 250 ms = 256/s
 * at the defaults) however fast the downstream answered.
 *
 * Here the poll runs every 4 s and the downstream answers each POST after 150 ms, so the
 * 35 slots carry ≈ 230 attempts a second: 280 messages take ≈ 1–2 s. Claimed only at
 * each poll, they would take 8 polls, 28 s or more.
 */
import { createConnection } from 'mysql2/promise';
import type { Agent } from 'undici';
import { afterAll, beforeAll, expect, it } from 'vitest';
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

const CAP = 35;
const POLL_MS = 4000;
const MESSAGES = 280;

let downstream: Downstream;
let workspace: Workspace;
let broker: BrokerProcess;
let agent: Agent;

beforeAll(async () => {
  downstream = await startDownstream(() => 200, { answerAfterMs: 150 });
  workspace = await createWorkspace({
    delivery: { concurrency: CAP, poll_interval_ms: POLL_MS },
    domains: [
      {
        name: 'default',
        target: { type: 'webhook', url: downstream.url, secret: 'backlog', ca_file: downstream.caFile },
      },
    ],
  });
  broker = new BrokerProcess(workspace);
  await broker.start();
  agent = mtlsAgent(demoBundle(workspace), 20);
});

afterAll(async () => {
  await agent?.close();
  await broker?.kill('SIGKILL');
  await workspace?.cleanup();
  await downstream?.close();
});

async function deliveredCount(): Promise<number> {
  const connection = await createConnection({ uri: workspace.database.url });
  try {
    const [[row]] = (await connection.query(
      "SELECT COUNT(*) AS n FROM messages WHERE status = 'delivered'",
    )) as unknown as [[{ n: number }]];
    return Number(row.n);
  } finally {
    await connection.end();
  }
}

it('drains a backlog at the downstream pace, not one claim per poll, and never past the cap', async () => {
  const started = Date.now();
  const answers = await Promise.all(
    Array.from({ length: MESSAGES }, (_, i) =>
      postJson(agent, broker.url, { sender_number: '+14155550123', message_body: `backlog ${i}` }),
    ),
  );
  expect(answers.every((a) => a.status === 202)).toBe(true);
  // At most 35 first attempts start at once; the rest wait on the schedule for a slot.
  await waitUntil(async () => (await deliveredCount()) === MESSAGES, 60_000, 'every message delivered');
  const seconds = (Date.now() - started) / 1000;
  expect(seconds).toBeLessThan((MESSAGES / CAP) * (POLL_MS / 1000) * 0.4);
  expect(downstream.hits).toHaveLength(MESSAGES);
  expect(downstream.maxInFlight).toBeLessThanOrEqual(CAP);
  expect(downstream.maxInFlight).toBeGreaterThan(CAP / 2);
});
