/**
 * Two broker instances (two supervisor processes) sharing one Redis prefix and one
 * MariaDB database: the rate limit and the daily quota hold across both, batches take
 * what is left, and each instance's health flags the other when their configs differ.
 */
import { randomUUID } from 'node:crypto';
import type { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BrokerProcess,
  createWorkspace,
  demoBundle,
  getJson,
  mtlsAgent,
  postJson,
  sendJson,
  waitUntil,
  type ApiResponse,
  type Workspace,
} from '../support/broker-harness.js';
import { registerClient } from '../support/clients.js';

let workspace: Workspace;
let first: BrokerProcess;
let second: BrokerProcess;
let demo: Agent;
let quota: Agent;
let batch: Agent;

beforeAll(async () => {
  workspace = await createWorkspace({
    limits: {
      rate_limit: 10,
      rate_window_ms: 60_000,
      daily_quota: 1000,
      clients: { 'quota.default': { daily_quota: 3 }, 'batch.default': { rate_limit: 5 } },
    },
    heartbeat: { interval_ms: 300 },
  });
  first = new BrokerProcess(workspace, { MB_INSTANCE_ID: 'first' });
  await first.start();
  // The first start created the CA and the demo client; the second instance shares them.
  second = new BrokerProcess(workspace, { MB_INSTANCE_ID: 'second' });
  await second.start();
  demo = mtlsAgent(demoBundle(workspace), 30);
  quota = mtlsAgent(await registerClient(workspace, 'quota', 'default'));
  batch = mtlsAgent(await registerClient(workspace, 'batch', 'default'));
});

afterAll(async () => {
  await Promise.all([demo?.close(), quota?.close(), batch?.close()]);
  await Promise.all([first?.kill('SIGKILL'), second?.kill('SIGKILL')]);
  await workspace?.cleanup();
});

const valid = { sender_number: '+14155550123', message_body: 'Hello' };
/** Alternates between the two instances. */
const urlOf = (i: number) => (i % 2 === 0 ? first.url : second.url);

describe('rate limit across instances', () => {
  it('admits exactly the limit from a burst spread over both instances, and says so in the headers', async () => {
    const responses = await Promise.all(Array.from({ length: 30 }, (_, i) => postJson(demo, urlOf(i), valid)));
    const accepted = responses.filter((r) => r.status === 202);
    const refused = responses.filter((r) => r.status === 429);
    expect(accepted).toHaveLength(10);
    expect(refused).toHaveLength(20);
    // 10 and not 20: each instance alone would have admitted 10; the counter is shared.
    expect(accepted.map((r) => Number(r.headers['ratelimit-remaining'])).sort((a, b) => a - b)).toEqual([
      0, 1, 2, 3, 4, 5, 6, 7, 8, 9,
    ]);
    for (const r of responses) {
      expect(r.headers['ratelimit-limit']).toBe('10');
      expect(r.headers['ratelimit-policy']).toBe('10;w=60');
      expect(Number(r.headers['ratelimit-reset'])).toBeGreaterThan(0);
      expect(Number(r.headers['ratelimit-reset'])).toBeLessThanOrEqual(60);
    }
    for (const r of refused) {
      expect(r.body).toMatchObject({ error_code: 'TOO_MANY_REQUESTS', details: { limit: 10, window_s: 60 } });
      expect(Number(r.headers['retry-after'])).toBeGreaterThan(0);
      expect(Number(r.headers['retry-after'])).toBeLessThanOrEqual(60);
      expect(r.headers['x-request-id']).toBe(r.body.tracking_id);
    }
  });

  it('counts status lookups in the same window', async () => {
    const lookup = await getJson(demo, `${second.url}/api/v1/messages/${randomUUID()}`);
    expect(lookup.status).toBe(429);
    expect(lookup.body.error_code).toBe('TOO_MANY_REQUESTS');
  });
});

describe('daily quota across instances', () => {
  it('refuses the message past the quota with 429 QUOTA_EXCEEDED and the reset time (next UTC midnight)', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await postJson(quota, urlOf(i), valid)).status);
    expect(statuses).toEqual([202, 202, 202]);
    const over: ApiResponse = await postJson(quota, second.url, valid);
    expect(over.status).toBe(429);
    const now = new Date();
    const midnight = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1);
    expect(over.body).toMatchObject({
      error_code: 'QUOTA_EXCEEDED',
      details: { limit: 3, resets_at: new Date(midnight).toISOString() },
    });
    expect(Math.abs(Number(over.headers['retry-after']) - (midnight - Date.now()) / 1000)).toBeLessThan(10);

    const items = await sendJson(quota, 'POST', `${first.url}/api/v1/messages/batch`, { messages: [valid, valid] });
    expect(items.status).toBe(207);
    expect(
      (items.body.results as Array<{ status: number; error: { error_code: string } }>).map((r) => [
        r.status,
        r.error.error_code,
      ]),
    ).toEqual([
      [429, 'QUOTA_EXCEEDED'],
      [429, 'QUOTA_EXCEEDED'],
    ]);
    // Each item says what the single route says: the quota and when it resets.
    expect((items.body.results as Array<{ error: unknown }>)[0]!.error).toMatchObject({
      message: `Daily quota of 3 messages reached; it resets at ${new Date(midnight).toISOString()}`,
      details: { limit: 3, resets_at: new Date(midnight).toISOString() },
    });
  });
});

describe('batches and limits', () => {
  it('queues the valid items that fit and refuses the rest per item', async () => {
    const messages = [
      ...Array.from({ length: 3 }, () => valid),
      { sender_number: 'x' },
      ...Array.from({ length: 4 }, () => valid),
    ];
    const key = { 'idempotency-key': `batch-limits-${Date.now()}` };
    const response = await sendJson(batch, 'POST', `${second.url}/api/v1/messages/batch`, { messages }, key);
    expect(response.status).toBe(207);
    expect(response.body).toMatchObject({ accepted: 5, refused: 3 });
    const results = response.body.results as Array<{ status: number; error?: { error_code: string } }>;
    expect(results.map((r) => r.status)).toEqual([202, 202, 202, 422, 202, 202, 429, 429]);
    expect(results[6]!.error).toMatchObject({
      error_code: 'TOO_MANY_REQUESTS',
      message: 'Rate limit of 5 requests per 60 s reached',
      details: { limit: 5, window_s: 60 },
    });
    expect(response.headers['ratelimit-remaining']).toBe('0');
    expect(Number(response.headers['retry-after'])).toBeGreaterThan(0);
    // A replay has only the items' codes, and rebuilds the same errors from them.
    const replayed = await sendJson(batch, 'POST', `${first.url}/api/v1/messages/batch`, { messages }, key);
    expect(replayed.headers['idempotent-replayed']).toBe('true');
    expect(replayed.body).toEqual(response.body);
  });
});

describe('heartbeats', () => {
  const instancesOf = async (broker: BrokerProcess) =>
    ((await getJson(demo, `${broker.url}/api/v1/health`)).body.components as Record<string, Record<string, unknown>>)
      .instances!;

  it('each instance sees the other, with the same config fingerprint', async () => {
    const seen = await waitUntil(
      async () => {
        const instances = await instancesOf(first);
        return (instances.instances as unknown[]).length === 2 ? instances : undefined;
      },
      10_000,
      'both instances in health',
    );
    expect(seen.status).toBe('up');
    expect(
      (seen.instances as Array<{ instance_id: string; config_matches: boolean }>)
        .map((i) => [i.instance_id, i.config_matches])
        .sort(),
    ).toEqual([
      ['first', true],
      ['second', true],
    ]);
  });

  it('flags an instance whose config differs, and forgets one that stopped', async () => {
    expect(await second.kill('SIGTERM')).toBe(0);
    second = new BrokerProcess(workspace, { MB_INSTANCE_ID: 'second', MB_DELIVERY_MAX_ATTEMPTS: '9' });
    await second.start();
    const flagged = await waitUntil(
      async () => {
        const instances = await instancesOf(first);
        return instances.status === 'degraded' ? instances : undefined;
      },
      10_000,
      'the mismatch to be flagged',
    );
    // The default domain inherits max_attempts: its effective settings differ as well.
    expect(flagged.problems).toEqual(['config differs on: second (keys: delivery.max_attempts, domains.default)']);
    const health = await getJson(demo, `${first.url}/api/v1/health`);
    expect(health.body.status).toBe('degraded');
    expect((await instancesOf(second)).problems).toEqual([
      'config differs on: first (keys: delivery.max_attempts, domains.default)',
    ]);

    expect(await second.kill('SIGTERM')).toBe(0);
    const alone = await waitUntil(
      async () => {
        const instances = await instancesOf(first);
        return (instances.instances as unknown[]).length === 1 ? instances : undefined;
      },
      10_000,
      'the stopped instance to be forgotten',
    );
    expect(alone.status).toBe('up');
  });
});
