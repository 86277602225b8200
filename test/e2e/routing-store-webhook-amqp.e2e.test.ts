/**
 * Issue #20's "done when", end to end on a started broker: ONE domain with three routes — a
 * header, a sender prefix, a default — over a `store`, a `webhook` and an `amqp` target. The
 * webhook target is a real HTTPS downstream (webhook-downstream.ts), the amqp target a
 * RabbitMQ node of the test's own over amqps:// with a client certificate. Each message
 * lands where the README's "Routing and targets" says: the header route's is published with
 * the routing key filled from its route and the header value sent (and consumed from the
 * bound queue), the prefix route's is POSTed, the default route's is stored and delivered;
 * the status lookup and MySQL name route and target of each, and the delivery metrics carry
 * the target.
 */
import { rmSync } from 'node:fs';
import { createConnection } from 'mysql2/promise';
import type { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { declareTopology, drainQueue } from '../support/amqp-queue.js';
import {
  BrokerProcess,
  createWorkspace,
  demoBundle,
  getJson,
  mtlsAgent,
  postJson,
  waitUntil,
  type ApiResponse,
  type Workspace,
} from '../support/broker-harness.js';
import { scrapeMetrics } from '../support/metrics-scrape.js';
import { startTlsRabbit, type TestRabbitServer } from '../support/rabbitmq-server.js';
import { type Downstream, startDownstream } from '../support/webhook-downstream.js';

// The header route publishes with routing key sms.{route}.{match}: X-Region: eu → sms.region.eu.
const TOPOLOGY = { exchange: 'mb.routes', queue: 'sms-eu', routingKey: 'sms.region.eu' };

let dir: string;
let rabbit: TestRabbitServer;
let downstream: Downstream;
let workspace: Workspace;
let broker: BrokerProcess;
let agent: Agent;

beforeAll(async () => {
  // RabbitMQ over TLS and the broker's client certificate, from a CA of the test.
  const tls = await startTlsRabbit('Routing');
  rabbit = tls.rabbit;
  dir = tls.dir;
  await declareTopology(rabbit.url, TOPOLOGY);
  downstream = await startDownstream(() => 200);
  workspace = await createWorkspace({
    delivery: { retry_interval_ms: 500, max_attempts: 10, webhook_timeout_ms: 5000 },
    domains: [
      {
        name: 'default',
        targets: {
          archive: { type: 'store' },
          hook: { type: 'webhook', url: downstream.url, secret: 'hook-secret', ca_file: downstream.caFile },
          rabbit: {
            type: 'amqp',
            url: rabbit.tlsUrl,
            exchange: TOPOLOGY.exchange,
            routing_key: 'sms.{route}.{match}',
            ...tls.target,
          },
        },
        routes: [
          { name: 'region', match: { header: { name: 'X-Region', values: ['eu', 'us'] } }, target: 'rabbit' },
          { name: 'uk', match: { sender_prefix: '+44' }, target: 'hook' },
          { name: 'fallback', target: 'archive' },
        ],
      },
    ],
  });
  broker = new BrokerProcess(workspace);
  await broker.start();
  agent = mtlsAgent(demoBundle(workspace));
}, 180_000);

afterAll(async () => {
  await agent?.close();
  await broker?.kill('SIGKILL');
  await workspace?.cleanup();
  await downstream?.close();
  await rabbit?.destroy();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const idOf = (response: ApiResponse) => {
  expect(response.status).toBe(202);
  return response.body.message_id as string;
};

/** The status lookup once the message is settled (delivered or failed). */
const settled = (id: string) =>
  waitUntil(
    async () => {
      const response = await getJson(agent, `${broker.url}/api/v1/messages/${id}`);
      return response.body.status !== 'queued' ? response : undefined;
    },
    30_000,
    `message ${id} to settle`,
  );

interface Row {
  target: string;
  route: string | null;
  route_match: string | null;
  status: string;
}

async function rows(): Promise<Map<string, Row>> {
  const connection = await createConnection({ uri: workspace.database.url });
  try {
    const [found] = (await connection.query(
      "SELECT message_id, target, route, route_match, status FROM messages WHERE domain = 'default'",
    )) as unknown as [Array<Row & { message_id: string }>];
    return new Map(found.map((r) => [r.message_id, r]));
  } finally {
    await connection.end();
  }
}

describe('three routes over a store, a webhook and an amqp target', () => {
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    // The header route comes first: a +44 number sent with X-Region: eu goes to RabbitMQ.
    ids.header = idOf(
      await postJson(
        agent,
        broker.url,
        { sender_number: '+447700900001', message_body: 'by header' },
        { 'X-Region': 'eu' },
      ),
    );
    ids.prefix = idOf(await postJson(agent, broker.url, { sender_number: '+447700900002', message_body: 'by prefix' }));
    ids.fallback = idOf(
      await postJson(agent, broker.url, { sender_number: '+14155550100', message_body: 'by default' }),
    );
  });

  it('lands each message where its route says, and the status lookup names route and target', async () => {
    const expected = {
      header: { route: 'region', target: 'rabbit', status: 'delivered' },
      prefix: { route: 'uk', target: 'hook', status: 'delivered' },
      fallback: { route: 'fallback', target: 'archive', status: 'delivered' },
    };
    for (const [key, want] of Object.entries(expected)) {
      const response = await settled(ids[key]!);
      expect(response.status).toBe(200);
      expect(response.body, key).toMatchObject(want);
    }

    // MySQL: every message stored once, with the route, target and match chosen at submit.
    const stored = await rows();
    expect(stored.get(ids.header!)).toMatchObject({
      target: 'rabbit',
      route: 'region',
      route_match: 'eu',
      status: 'delivered',
    });
    expect(stored.get(ids.prefix!)).toMatchObject({
      target: 'hook',
      route: 'uk',
      route_match: '+44',
      status: 'delivered',
    });
    expect(stored.get(ids.fallback!)).toMatchObject({ target: 'archive', route: 'fallback', status: 'delivered' });

    // The HTTPS downstream got the prefix route's message, and only it.
    expect(downstream.hits.map((h) => h.body.message_id)).toEqual([ids.prefix]);
    expect(JSON.parse(downstream.hits[0]!.rawBody)).toMatchObject({ target: 'hook', route: 'uk' });

    // RabbitMQ: the header route's message, published with the routing key its route and
    // the header value sent fill in.
    const consumed = await drainQueue(rabbit.url, TOPOLOGY.queue);
    expect(consumed.map((m) => m.properties.messageId)).toEqual([ids.header]);
    const [message] = consumed;
    expect(message!.fields).toMatchObject({ exchange: TOPOLOGY.exchange, routingKey: 'sms.region.eu' });
    expect(message!.properties).toMatchObject({ contentType: 'application/json', deliveryMode: 2 });
    expect(JSON.parse(message!.content.toString())).toMatchObject({
      message_id: ids.header,
      sender_number: '+447700900001',
      message_body: 'by header',
      target: 'rabbit',
      route: 'region',
    });
  });

  it('labels the delivery metrics of the webhook and the amqp target with their target', async () => {
    const metrics = await scrapeMetrics(agent, broker.url);
    const delivered = (target: string) =>
      metrics.value('mb_delivery_attempts_total', { domain: 'default', target, outcome: 'delivered' });
    expect(delivered('hook')).toBe(1);
    expect(delivered('rabbit')).toBe(1);
    expect(metrics.value('mb_circuit_breaker_state', { domain: 'default', target: 'rabbit' })).toBe(0);
    expect(metrics.value('mb_delivery_slots_guaranteed', { domain: 'default', target: 'rabbit' })).toBeGreaterThan(0);
  });
});
