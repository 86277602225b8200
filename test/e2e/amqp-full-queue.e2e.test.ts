/**
 * One amqp target, two routes to two queues, one of them full (`x-overflow:
 * reject-publish`): RabbitMQ nacks what is bound for it. On a started broker, the full
 * queue's messages are retried and then dead-lettered, while the other route's keep being
 * delivered at once — the target's breaker stays closed (a nack is RabbitMQ answering, as
 * a return is, not RabbitMQ down).
 */
import { connect } from 'amqplib';
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
import { TestRabbitServer } from '../support/rabbitmq-server.js';

const EXCHANGE = 'mb.full';
const BREAKER_FAILURES = 2;

let rabbit: TestRabbitServer;
let workspace: Workspace;
let broker: BrokerProcess;
let agent: Agent;

beforeAll(async () => {
  rabbit = await TestRabbitServer.create();
  await declareTopology(rabbit.url, { exchange: EXCHANGE, queue: 'sms-ok', routingKey: 'sms.ok' });
  const connection = await connect(rabbit.url);
  const channel = await connection.createConfirmChannel();
  await channel.assertQueue('sms-full', {
    durable: true,
    arguments: { 'x-max-length': 1, 'x-overflow': 'reject-publish' },
  });
  await channel.bindQueue('sms-full', EXCHANGE, 'sms.full');
  // Full from the start: every publish to it is nacked.
  channel.sendToQueue('sms-full', Buffer.from('filler'), { persistent: true });
  await channel.waitForConfirms();
  await connection.close();
  workspace = await createWorkspace({
    delivery: {
      retry_interval_ms: 200,
      max_attempts: 3,
      breaker_failures: BREAKER_FAILURES,
      breaker_open_ms: 60_000,
    },
    domains: [
      {
        name: 'default',
        targets: {
          rabbit: {
            type: 'amqp',
            url: rabbit.url,
            allow_insecure_amqp: true,
            exchange: EXCHANGE,
            routing_key: 'sms.{match}',
          },
        },
        routes: [{ name: 'queue', match: { header: { name: 'X-Queue', values: ['ok', 'full'] } }, target: 'rabbit' }],
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
  await rabbit?.destroy();
});

const send = async (queue: string, n: number): Promise<string> => {
  const response: ApiResponse = await postJson(
    agent,
    broker.url,
    { sender_number: '+14155550100', message_body: `to ${queue} #${n}` },
    { 'X-Queue': queue },
  );
  expect(response.status).toBe(202);
  return response.body.message_id as string;
};

const settled = (id: string) =>
  waitUntil(
    async () => {
      const response = await getJson(agent, `${broker.url}/api/v1/messages/${id}`);
      return response.body.status !== 'queued' ? response : undefined;
    },
    20_000,
    `message ${id} to settle`,
  );

describe('an amqp target with one full queue among its routes', () => {
  it("dead-letters the full queue's messages and keeps delivering the others, its breaker closed", async () => {
    const full: string[] = [];
    for (let n = 0; n < 3; n++) full.push(await send('full', n));
    for (const id of full) {
      const response = await settled(id);
      expect(response.body).toMatchObject({ status: 'failed', attempt_count: 3 });
      expect(response.body.last_error).toMatch(/^AMQP_NACK: .*"sms\.full"/);
    }
    // Nine nacks in a row, far past the breaker's threshold: the healthy queue still gets its messages at once.
    const ok: string[] = [];
    for (let n = 0; n < 3; n++) ok.push(await send('ok', n));
    for (const id of ok) expect((await settled(id)).body).toMatchObject({ status: 'delivered', attempt_count: 1 });
    const consumed = await drainQueue(rabbit.url, 'sms-ok');
    expect(consumed.map((m) => m.properties.messageId).sort()).toEqual([...ok].sort());
    const metrics = await scrapeMetrics(agent, broker.url);
    expect(metrics.value('mb_circuit_breaker_state', { domain: 'default', target: 'rabbit' })).toBe(0);
  });
});
