/**
 * First attempts beyond the free delivery slots are held in memory (stored, leased) and
 * start as slots free, oldest first, without a schedule entry, a claim or a row read
 * (`delivery.held_attempts`); past that bound they go on the schedule as before. The poll
 * is set to a minute: anything waiting for it would show. A purge with
 * `--include-pending` cancels held attempts as it cancels scheduled ones, and a graceful
 * restart of the delivery actor (a config reload) gives held ones back to the schedule,
 * due at once.
 */
import { Redis } from 'ioredis';
import { createConnection } from 'mysql2/promise';
import type { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { domainKeys } from '../../src/queue/keys.js';
import {
  BrokerProcess,
  createWorkspace,
  demoBundle,
  mtlsAgent,
  sendJson,
  waitUntil,
  type Workspace,
} from '../support/broker-harness.js';
import { runCli } from '../support/mb-cli.js';
import { startDownstream, type Downstream } from '../support/webhook-downstream.js';

const POLL_MS = 60_000;
const SLOTS = 35;
const HELD = 20;
const ANSWER_MS = 1500;
/** What every answer of the downstream waits for besides ANSWER_MS (settled: nothing). */
let answersHeld: Promise<void> = Promise.resolve();

let downstream: Downstream;
let workspace: Workspace;
let broker: BrokerProcess;
let agent: Agent;
let redis: Redis;

beforeAll(async () => {
  downstream = await startDownstream(() => 200, { answerAfterMs: ANSWER_MS, answerWhen: () => answersHeld });
  workspace = await createWorkspace({
    delivery: { poll_interval_ms: POLL_MS, concurrency: SLOTS, held_attempts: HELD },
    domains: [
      {
        name: 'default',
        target: { type: 'webhook', url: downstream.url, secret: 'held', ca_file: downstream.caFile },
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

const keys = () => domainKeys(workspace.prefix, { key_prefix: 'default' });

/** One batch request: the messages reach the store pipeline together. */
async function submitBatch(label: string, count: number): Promise<string[]> {
  const messages = Array.from({ length: count }, (_, i) => ({
    sender_number: '+14155550188',
    message_body: `${label} ${i}`,
  }));
  const response = await sendJson(agent, 'POST', `${broker.url}/api/v1/messages/batch`, { messages });
  expect(response.status).toBe(207);
  expect(response.body.accepted).toBe(count);
  return (response.body.results as Array<{ message_id: string }>).map((r) => r.message_id);
}

async function statuses(ids: string[]): Promise<Map<string, string>> {
  const connection = await createConnection({ uri: workspace.database.url });
  try {
    const [found] = (await connection.query('SELECT message_id, status FROM messages WHERE message_id IN (?)', [
      ids,
    ])) as unknown as [Array<{ message_id: string; status: string }>];
    return new Map(found.map((r) => [r.message_id, r.status]));
  } finally {
    await connection.end();
  }
}

/** Samples the schedule and the leases until `done` holds: the most each held at once. */
async function watchKeys(done: () => Promise<boolean>, timeoutMs: number) {
  const most = { scheduled: 0, leased: 0 };
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [scheduled, leased] = await Promise.all([redis.zcard(keys().schedule), redis.zcard(keys().inflight)]);
    most.scheduled = Math.max(most.scheduled, scheduled);
    most.leased = Math.max(most.leased, leased);
    if (await done()) return most;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('held first attempts', () => {
  it('start as slots free, oldest first, without the schedule; past the bound they go on it', async () => {
    const ids = await submitBatch('wave', SLOTS + HELD + 10);
    const hitIds = () => new Set(downstream.hits.map((h) => h.body.message_id));
    const most = await watchKeys(async () => ids.every((id) => hitIds().has(id)), POLL_MS / 2);
    // Every one attempted once, long before the poll: the held ones when the first wave's
    // slots freed, the 10 past the bound claimed from the schedule as slots were given.
    for (const id of ids) expect(downstream.hits.filter((h) => h.body.message_id === id)).toHaveLength(1);
    // The first wave and the held ones leased together; only the 10 past the bound scheduled.
    expect(most.leased).toBeGreaterThanOrEqual(SLOTS + HELD);
    expect(most.scheduled).toBe(10);
    // The held ones were sent after the first wave and before those past the bound.
    const order = downstream.hits
      .filter((h) => ids.includes(h.body.message_id))
      .map((h) => ids.indexOf(h.body.message_id));
    const heldSent = order.filter((i) => i >= SLOTS && i < SLOTS + HELD);
    expect(heldSent).toHaveLength(HELD);
    const firstWave = downstream.hits.filter((h) => ids.indexOf(h.body.message_id) < SLOTS).map((h) => h.at);
    const held = downstream.hits.filter((h) => heldSent.includes(ids.indexOf(h.body.message_id))).map((h) => h.at);
    expect(Math.min(...held)).toBeGreaterThanOrEqual(Math.min(...firstWave) + ANSWER_MS - 200);
    await waitUntil(
      async () => [...(await statuses(ids)).values()].every((s) => s === 'delivered'),
      10_000,
      'every row delivered',
    );
    await waitUntil(async () => (await redis.zcard(keys().inflight)) === 0, 5000, 'no lease left');
    expect(await redis.zcard(keys().schedule)).toBe(0);
  });

  it('are cancelled by a purge with --include-pending, as scheduled ones are', async () => {
    const before = downstream.hits.length;
    // The first wave is answered only once the purge has run: on a busy box the CLI may
    // take longer to start than ANSWER_MS, and freed slots would start the held attempts.
    let release = () => {};
    answersHeld = new Promise((resolve) => (release = resolve));
    let ids: string[];
    try {
      ids = await submitBatch('purged', SLOTS + HELD);
      // The first wave is under way, the rest held.
      await waitUntil(async () => downstream.hits.length - before >= 1, 5000, 'the first wave to start');
      const purged = await runCli(['purge', '--client', 'demo', '--include-pending'], {
        configPath: workspace.configPath,
      });
      expect(purged.code, purged.stderr).toBe(0);
    } finally {
      release();
    }
    await new Promise((resolve) => setTimeout(resolve, ANSWER_MS * 2 + 1000));
    const sent = new Set(downstream.hits.slice(before).map((h) => h.body.message_id));
    // Only what was under way when the purge ran reached the downstream.
    expect(sent.size).toBeLessThanOrEqual(SLOTS);
    expect((await statuses(ids)).size).toBe(0);
    await waitUntil(async () => (await redis.zcard(keys().inflight)) === 0, 5000, 'no lease left');
    expect(await redis.zcard(keys().schedule)).toBe(0);
  });

  it('go back on the schedule, due at once, when the delivery actor restarts (a reload)', async () => {
    const ids = await submitBatch('reload', SLOTS + HELD);
    // The first wave under way, the rest held: leased, none on the schedule, and health says so.
    await waitUntil(async () => (await redis.zcard(keys().inflight)) >= ids.length, 5000, 'all leased');
    expect(await redis.zcard(keys().schedule)).toBe(0);
    const health = (await sendJson(agent, 'GET', `${broker.url}/api/v1/health`)).body as {
      components: Record<string, { held?: number; in_flight?: number }>;
    };
    expect(health.components.downstream_default).toMatchObject({ held: HELD, in_flight: SLOTS });
    // A delivery setting changed: the delivery actor restarts gracefully.
    workspace.reconfigure({ delivery: { ...(workspace.values.delivery as object), retry_interval_ms: 29_000 } });
    broker.child!.kill('SIGHUP');
    await waitUntil(
      async () => ids.every((id) => downstream.hits.some((h) => h.body.message_id === id)),
      POLL_MS / 2,
      'every message attempted after the restart, without waiting for the poll or a lease',
    );
    await waitUntil(
      async () => [...(await statuses(ids)).values()].every((s) => s === 'delivered'),
      10_000,
      'every row delivered',
    );
  });
});
