/**
 * amqp target end to end: a broker publishing over amqps:// with a client certificate to a
 * RabbitMQ node of the test's own (TLS, verify_peer, fail_if_no_peer_cert). A message
 * reaches the bound queue as the webhook JSON payload with its message id, and becomes
 * `delivered` on the confirm; a message no queue is bound for (mandatory: returned) is
 * retried at the interval and dead-lettered after the last attempt, without opening the
 * target's breaker: another routing key of the same target keeps being delivered. When
 * RabbitMQ comes back after an outage that opened the breaker, delivery resumes at the
 * reconnect, not when the breaker's open time ends.
 */
import { rmSync } from 'node:fs';
import { Redis } from 'ioredis';
import { createConnection } from 'mysql2/promise';
import type { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { webhookPayloadSchema } from '../../src/delivery/webhook-payload.schemas.js';
import { declareTopology, drainQueue } from '../support/amqp-queue.js';
import {
  BrokerProcess,
  createWorkspace,
  demoBundle,
  mtlsAgent,
  postJson,
  waitUntil,
  type Workspace,
} from '../support/broker-harness.js';
import { registerClient } from '../support/clients.js';
import { scrapeMetrics } from '../support/metrics-scrape.js';
import { startTlsRabbit, type TestRabbitServer } from '../support/rabbitmq-server.js';

const INTERVAL_MS = 1000;
const TOPOLOGY = { exchange: 'mb.e2e', queue: 'sms-default', routingKey: 'sms.default' };
/** The routed domain's fallback route has a queue; its `lost` route (+44) has none. */
const ROUTED = { exchange: 'mb.e2e', queue: 'sms-routed', routingKey: 'sms.fallback' };

let dir: string;
let rabbit: TestRabbitServer;
let workspace: Workspace;
let broker: BrokerProcess;
let agent: Agent;
let nowhereAgent: Agent;
let routedAgent: Agent;

beforeAll(async () => {
  // RabbitMQ over TLS and the broker's client certificate, from a CA of the test.
  const tls = await startTlsRabbit('E2E');
  rabbit = tls.rabbit;
  dir = tls.dir;
  await declareTopology(rabbit.url, TOPOLOGY);
  await declareTopology(rabbit.url, ROUTED);
  const target = {
    type: 'amqp',
    url: rabbit.tlsUrl,
    exchange: TOPOLOGY.exchange,
    routing_key: 'sms.{domain}',
    ...tls.target,
  };
  workspace = await createWorkspace({
    // A long open time: recovery after RabbitMQ's restart must not wait for it (last test).
    delivery: { retry_interval_ms: INTERVAL_MS, max_attempts: 3, webhook_timeout_ms: 5000, breaker_open_ms: 180_000 },
    domains: [
      { name: 'default', target },
      // No queue is bound for sms.nowhere: every publish comes back (mandatory).
      { name: 'nowhere', target },
      {
        name: 'routed',
        targets: { rabbit: { ...target, routing_key: 'sms.{route}' } },
        routes: [
          { name: 'lost', match: { sender_prefix: '+44' }, target: 'rabbit' },
          { name: 'fallback', target: 'rabbit' },
        ],
      },
    ],
  });
  broker = new BrokerProcess(workspace);
  await broker.start();
  agent = mtlsAgent(demoBundle(workspace));
  nowhereAgent = mtlsAgent(await registerClient(workspace, 'gw', 'nowhere'));
  routedAgent = mtlsAgent(await registerClient(workspace, 'gw', 'routed'));
}, 180_000);

afterAll(async () => {
  await agent?.close();
  await nowhereAgent?.close();
  await routedAgent?.close();
  await broker?.kill('SIGKILL');
  await workspace?.cleanup();
  await rabbit?.destroy();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function row(id: string): Promise<{ status: string; attempt_count: number; last_error: string | null }> {
  const connection = await createConnection({ uri: workspace.database.url });
  try {
    const [rows] = (await connection.query(
      'SELECT status, attempt_count, last_error FROM messages WHERE message_id = ?',
      [id],
    )) as unknown as [Array<{ status: string; attempt_count: number; last_error: string | null }>];
    return rows[0]!;
  } finally {
    await connection.end();
  }
}

async function submit(through: Agent, text: string, sender = '+14155550199'): Promise<string> {
  const response = await postJson(through, broker.url, {
    sender_number: sender,
    message_body: text,
    metadata: { site: 'north' },
  });
  expect(response.status).toBe(202);
  return String(response.body.message_id);
}

describe('amqp delivery over TLS with a client certificate', () => {
  it('publishes the payload to the exchange and is delivered on the confirm', async () => {
    const id = await submit(agent, 'Gate 4 open');
    await waitUntil(async () => (await row(id))?.status === 'delivered' || undefined, 20_000, 'delivery');
    // Attempt 1, unless it met the transport still connecting (then it was retried).
    const delivered = await row(id);
    const messages = await drainQueue(rabbit.url, TOPOLOGY.queue);
    const message = messages.find((m) => m.properties.messageId === id);
    expect(message).toBeDefined();
    expect(message!.fields).toMatchObject({ exchange: TOPOLOGY.exchange, routingKey: 'sms.default' });
    expect(message!.properties).toMatchObject({ contentType: 'application/json', deliveryMode: 2 });
    const body = JSON.parse(message!.content.toString());
    expect(body).toMatchObject({
      payload_version: 2,
      message_id: id,
      client_id: 'demo.default',
      domain: 'default',
      sender_number: '+14155550199',
      message_body: 'Gate 4 open',
      metadata: { site: 'north' },
      attempt: delivered.attempt_count,
    });
    expect(Object.keys(body).sort()).toEqual([...webhookPayloadSchema.required].sort());
  });

  it('retries an unroutable message (no queue bound) at the interval, then fails and dead-letters it', async () => {
    const id = await submit(nowhereAgent, 'nobody listens');
    await waitUntil(async () => (await row(id))?.status === 'failed' || undefined, 30_000, 'the message to fail');
    const failed = await row(id);
    expect(failed).toMatchObject({ status: 'failed', attempt_count: 3 });
    expect(failed.last_error).toMatch(/^AMQP_UNROUTABLE: .*"sms\.nowhere"/);
    const redis = new Redis(workspace.redisUrl);
    try {
      const dead = await redis.xrange(`${workspace.prefix}nowhere:dead`, '-', '+');
      const entry = dead.find(([, fields]) => fields.includes(id));
      expect(entry).toBeDefined();
      expect(entry![1]).toEqual(expect.arrayContaining(['a', '3']));
      expect(await redis.zscore(`${workspace.prefix}nowhere:schedule`, id)).toBeNull();
    } finally {
      redis.disconnect();
    }
    // Nothing of it reached the bound queue of the other domain.
    expect((await drainQueue(rabbit.url, TOPOLOGY.queue)).some((m) => m.properties.messageId === id)).toBe(false);
  });

  it('counts the failures by reason: unroutable', async () => {
    const metrics = await scrapeMetrics(agent, broker.url);
    expect(
      metrics.value('mb_delivery_failures_total', { domain: 'nowhere', reason: 'unroutable' }),
    ).toBeGreaterThanOrEqual(3);
    expect(metrics.value('mb_delivery_failures_total', { domain: 'default' })).toBe(0);
  });
});

describe('a routing key no queue is bound for, beside one that has a queue', () => {
  it('does not open the target breaker: the other route keeps being delivered at once', async () => {
    const unroutable = await scrapeMetrics(agent, broker.url);
    const before = unroutable.value('mb_delivery_failures_total', { domain: 'routed', reason: 'unroutable' });
    // More returns in a row than delivery.breaker_failures (5): a breaker that counted them
    // would stay open for breaker_open_ms (30 s) and hold the fallback route's message.
    for (let i = 0; i < 6; i++) await submit(routedAgent, `lost ${i}`, '+447700900123');
    await waitUntil(
      async () => {
        const metrics = await scrapeMetrics(agent, broker.url);
        return metrics.value('mb_delivery_failures_total', { domain: 'routed', reason: 'unroutable' }) >= before + 6
          ? true
          : undefined;
      },
      20_000,
      'six unroutable attempts',
    );
    const id = await submit(routedAgent, 'to the fallback queue');
    await waitUntil(async () => (await row(id))?.status === 'delivered' || undefined, 10_000, 'the routable message');
    const queued = await drainQueue(rabbit.url, ROUTED.queue);
    expect(queued.map((m) => m.properties.messageId)).toContain(id);
    const metrics = await scrapeMetrics(agent, broker.url);
    expect(metrics.value('mb_circuit_breaker_state', { domain: 'routed', target: 'rabbit' })).toBe(0);
  });
});

describe('RabbitMQ down long enough to open the breaker, then back', () => {
  it('resumes delivery at the reconnect, not when the open time (180 s here) ends; nothing is lost', async () => {
    await drainQueue(rabbit.url, TOPOLOGY.queue);
    await rabbit.stop('SIGKILL');
    // More failed attempts in a row than delivery.breaker_failures (5).
    const during: string[] = [];
    for (let i = 0; i < 6; i++) during.push(await submit(agent, `during the outage ${i}`));
    await waitUntil(
      async () => {
        const metrics = await scrapeMetrics(agent, broker.url);
        return metrics.value('mb_circuit_breaker_state', { domain: 'default', target: 'default' }) === 2 || undefined;
      },
      20_000,
      'the breaker open',
    );
    await rabbit.start();
    const back = Date.now();
    const after = await submit(agent, 'after the outage');
    for (const id of [...during, after]) {
      await waitUntil(async () => (await row(id))?.status === 'delivered' || undefined, 60_000, `message ${id}`);
    }
    // Well before the breaker's own 180 s: the reconnect let its probe through.
    expect(Date.now() - back).toBeLessThan(60_000);
    const queued = await drainQueue(rabbit.url, TOPOLOGY.queue);
    expect(new Set(queued.map((m) => m.properties.messageId))).toEqual(new Set([...during, after]));
  }, 240_000);
});
