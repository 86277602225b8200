/**
 * The client API beyond a single submit, against the real supervisor over mTLS:
 * Idempotency-Key (replays, reuse, 50 concurrent duplicates), batch submit, status lookup
 * (also while a message is still in the stream), the error schema on every kind of error,
 * the OpenAPI document and Swagger UI, the instance heartbeat in health.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { Redis } from 'ioredis';
import { createConnection, type Connection } from 'mysql2/promise';
import { request, type Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BrokerProcess,
  createWorkspace,
  demoBundle,
  getJson,
  mtlsAgent,
  postJson,
  ROOT,
  sendJson,
  waitUntil,
  type ApiResponse,
  type Workspace,
} from '../support/broker-harness.js';
import { registerClient } from '../support/clients.js';

let workspace: Workspace;
let broker: BrokerProcess;
let agent: Agent;
let other: Agent;
let anonymous: Agent;
let mysql: Connection;
let redis: Redis;

beforeAll(async () => {
  workspace = await createWorkspace();
  broker = new BrokerProcess(workspace);
  await broker.start();
  const demo = demoBundle(workspace);
  agent = mtlsAgent(demo, 20);
  other = mtlsAgent(await registerClient(workspace, 'other', 'default'));
  anonymous = mtlsAgent({ ca: demo.ca });
  mysql = await createConnection({ uri: workspace.database.url });
  redis = new Redis(workspace.redisUrl);
});

afterAll(async () => {
  await Promise.all([agent?.close(), other?.close(), anonymous?.close()]);
  await mysql?.end();
  redis?.disconnect();
  await broker?.kill('SIGKILL');
  await workspace?.cleanup();
});

const valid = { sender_number: '+14155550123', message_body: 'Hello' };
const messagesUrl = () => `${broker.url}/api/v1/messages`;
const batchUrl = () => `${broker.url}/api/v1/messages/batch`;
const withKey = (key: string) => ({ 'idempotency-key': key });

/** Rows stored for a run tag (metadata.run), once the queue is empty so nothing is still on its way. */
async function storedRows(run: string): Promise<number> {
  await waitUntil(
    async () => (await redis.xlen(`${workspace.prefix}default:stream`)) === 0 || undefined,
    15_000,
    'the queue to drain',
  );
  const [[row]] = (await mysql.query(
    "SELECT COUNT(*) AS n FROM messages WHERE JSON_UNQUOTE(JSON_EXTRACT(metadata, '$.run')) = ?",
    [run],
  )) as unknown as [[{ n: number }]];
  return Number(row.n);
}

async function statusOf(client: Agent, id: string): Promise<ApiResponse> {
  return getJson(client, `${messagesUrl()}/${id}`);
}

function expectErrorSchema(response: ApiResponse, status: number, code: string): void {
  expect(response.status).toBe(status);
  expect(response.body).toMatchObject({
    error_code: code,
    message: expect.any(String),
    tracking_id: expect.any(String),
  });
  expect(Number.isNaN(Date.parse(String(response.body.timestamp)))).toBe(false);
  expect(response.headers['x-request-id']).toBe(response.body.tracking_id);
}

describe('Idempotency-Key', () => {
  it('answers a retry with the original 202 (whatever the key order) and queues nothing new', async () => {
    const run = randomUUID();
    const key = randomUUID();
    const first = await postJson(agent, broker.url, { ...valid, metadata: { run } }, withKey(key));
    expect(first.status).toBe(202);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    const again = await postJson(
      agent,
      broker.url,
      { metadata: { run }, message_body: valid.message_body, sender_number: valid.sender_number },
      withKey(key),
    );
    expect(again.status).toBe(202);
    expect(again.body).toEqual(first.body);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(await storedRows(run)).toBe(1);
  });

  it('refuses the same key with a different body: 422 IDEMPOTENCY_KEY_REUSED', async () => {
    const key = randomUUID();
    expect((await postJson(agent, broker.url, valid, withKey(key))).status).toBe(202);
    expectErrorSchema(
      await postJson(agent, broker.url, { ...valid, message_body: 'Other' }, withKey(key)),
      422,
      'IDEMPOTENCY_KEY_REUSED',
    );
  });

  it('remembers a validation error: the same response again, and the key cannot be reused for a valid body', async () => {
    const key = randomUUID();
    const invalid = { ...valid, sender_number: '0800' };
    const first = await postJson(agent, broker.url, invalid, withKey(key));
    expectErrorSchema(first, 422, 'INVALID_PAYLOAD');
    const again = await postJson(agent, broker.url, invalid, withKey(key));
    expect(again.status).toBe(422);
    expect(again.body).toEqual(first.body);
    expect(again.headers['idempotent-replayed']).toBe('true');
    // The body is the original's, its tracking_id included; the replay is logged under its own id.
    expect(again.body.tracking_id).toBe(first.headers['x-request-id']);
    expect(again.headers['x-request-id']).not.toBe(first.headers['x-request-id']);
    expectErrorSchema(await postJson(agent, broker.url, valid, withKey(key)), 422, 'IDEMPOTENCY_KEY_REUSED');
  });

  it('keeps keys per client', async () => {
    const key = randomUUID();
    const mine = await postJson(agent, broker.url, valid, withKey(key));
    const theirs = await postJson(other, broker.url, valid, withKey(key));
    expect(theirs.status).toBe(202);
    expect(theirs.body.message_id).not.toBe(mine.body.message_id);
    expect(theirs.body.client_id).toBe('other.default');
  });

  it('turns 50 parallel requests with the same key into exactly one message', async () => {
    const run = randomUUID();
    const key = randomUUID();
    const responses = await Promise.all(
      Array.from({ length: 50 }, () => postJson(agent, broker.url, { ...valid, metadata: { run } }, withKey(key))),
    );
    expect(responses.map((r) => r.status)).toEqual(Array(50).fill(202));
    expect(new Set(responses.map((r) => r.body.message_id)).size).toBe(1);
    expect(responses.filter((r) => r.headers['idempotent-replayed'] === 'true')).toHaveLength(49);
    expect(await storedRows(run)).toBe(1);
  });

  it('refuses a malformed key', async () => {
    for (const key of ['has space', 'x'.repeat(256)]) {
      const response = await postJson(agent, broker.url, valid, withKey(key));
      expectErrorSchema(response, 422, 'INVALID_PAYLOAD');
      expect(JSON.stringify(response.body.details)).toContain('Idempotency-Key');
    }
  });
});

describe('POST /api/v1/messages/batch', () => {
  it('validates each item, queues the valid ones and answers 207 per item', async () => {
    const run = randomUUID();
    const response = await sendJson(agent, 'POST', batchUrl(), {
      messages: [
        { ...valid, metadata: { run } },
        { ...valid, sender_number: '12345' },
        { ...valid, message_body: 'Second', metadata: { run } },
        { ...valid, message_body: '   ' },
        { ...valid, message_body: '\u200b\u2060\ufeff' },
      ],
    });
    expect(response.status).toBe(207);
    expect(response.body).toMatchObject({ accepted: 2, refused: 3 });
    const results = response.body.results as Array<Record<string, unknown>>;
    expect(results.map((r) => [r.index, r.status])).toEqual([
      [0, 202],
      [1, 422],
      [2, 202],
      [3, 422],
      [4, 422],
    ]);
    expect(results[0]).toMatchObject({
      message_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      position: expect.any(Number),
      queued_at: expect.any(String),
    });
    expect(results[1]!.error).toMatchObject({
      error_code: 'INVALID_PAYLOAD',
      tracking_id: response.headers['x-request-id'],
    });
    expect(JSON.stringify(results[1]!.error)).toContain('sender_number');
    expect(JSON.stringify(results[3]!.error)).toContain('message_body');
    expect(results[4]!.error).toMatchObject({
      error_code: 'INVALID_PAYLOAD',
      details: [{ field: 'message_body', rule: 'pattern' }],
    });
    expect(response.headers['ratelimit-limit']).toBe('1000000');
    expect(await storedRows(run)).toBe(2);
    const status = await statusOf(agent, String(results[2]!.message_id));
    expect(status.body.status).toBe('delivered');
  });

  it('takes 100 full-size messages, beyond the single-message body limit', async () => {
    const messages = Array.from({ length: 100 }, (_, i) => ({ ...valid, message_body: `${i} ${'é'.repeat(990)}` }));
    const response = await sendJson(agent, 'POST', batchUrl(), { messages });
    expect(response.status).toBe(207);
    expect(response.body.accepted).toBe(100);
  });

  it.each([
    ['more than 100 items', { messages: Array.from({ length: 101 }, () => valid) }],
    ['no items', { messages: [] }],
    ['items not in a list', { messages: valid }],
    ['a field beside messages', { messages: [valid], priority: 1 }],
  ])('refuses %s with 422 INVALID_PAYLOAD', async (_name, body) => {
    expectErrorSchema(await sendJson(agent, 'POST', batchUrl(), body), 422, 'INVALID_PAYLOAD');
  });

  it('replays a batch sent again with its Idempotency-Key, item errors included', async () => {
    const run = randomUUID();
    const key = randomUUID();
    const body = {
      messages: [{ ...valid, metadata: { run } }, { sender_number: '+1' }, { ...valid, metadata: { run } }],
    };
    const first = await sendJson(agent, 'POST', batchUrl(), body, withKey(key));
    const again = await sendJson(agent, 'POST', batchUrl(), body, withKey(key));
    expect(again.status).toBe(207);
    expect(again.body).toEqual(first.body);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(await storedRows(run)).toBe(2);
    expectErrorSchema(
      await sendJson(agent, 'POST', batchUrl(), { messages: [valid] }, withKey(key)),
      422,
      'IDEMPOTENCY_KEY_REUSED',
    );
  });

  it('remembers a batch without one valid item under its key', async () => {
    const key = randomUUID();
    const body = { messages: [{ sender_number: 'x' }, { message_body: 'y' }] };
    const first = await sendJson(agent, 'POST', batchUrl(), body, withKey(key));
    expect(first.status).toBe(207);
    expect(first.body).toMatchObject({ accepted: 0, refused: 2 });
    const again = await sendJson(agent, 'POST', batchUrl(), body, withKey(key));
    expect(again.body).toEqual(first.body);
    expect(again.headers['idempotent-replayed']).toBe('true');
  });
});

describe('GET /api/v1/messages/{message_id}', () => {
  it("answers status, attempts and times of the client's own message", async () => {
    const { body } = await postJson(agent, broker.url, valid);
    const id = String(body.message_id);
    const status = await waitUntil(
      async () => {
        const response = await statusOf(agent, id);
        return response.body.status === 'delivered' ? response : undefined;
      },
      15_000,
      'the message to be delivered',
    );
    expect(status.status).toBe(200);
    expect(status.body).toMatchObject({
      message_id: id,
      client_id: 'demo.default',
      attempt_count: 1,
      queued_at: body.queued_at,
      next_attempt_at: null,
      last_error: null,
    });
    expect(Date.parse(String(status.body.stored_at))).toBeGreaterThanOrEqual(Date.parse(String(body.queued_at)) - 1000);
    expect(Date.parse(String(status.body.delivered_at))).not.toBeNaN();
    expect(status.headers['ratelimit-remaining']).toBeDefined();
    expect((await statusOf(agent, id.toUpperCase())).status).toBe(200);
  });

  it("answers 404 for another client's message, an unknown id and a malformed one", async () => {
    const { body } = await postJson(agent, broker.url, valid);
    expectErrorSchema(await statusOf(other, String(body.message_id)), 404, 'NOT_FOUND');
    expectErrorSchema(await statusOf(agent, randomUUID()), 404, 'NOT_FOUND');
    expectErrorSchema(await statusOf(agent, 'not-a-message-id'), 404, 'NOT_FOUND');
  });

  it('answers "queued" for a message still in the stream, not yet in MySQL', async () => {
    const lock = await createConnection({ uri: workspace.database.url });
    try {
      // Delivery cannot store while the table is locked: the message stays in the stream.
      await lock.query('LOCK TABLES messages WRITE');
      const { body } = await postJson(agent, broker.url, valid);
      const id = String(body.message_id);
      const queued = await statusOf(agent, id);
      expect(queued.status).toBe(200);
      expect(queued.body).toMatchObject({
        message_id: id,
        status: 'queued',
        attempt_count: 0,
        stored_at: null,
        delivered_at: null,
        queued_at: body.queued_at,
      });
      expectErrorSchema(await statusOf(other, id), 404, 'NOT_FOUND');
      await lock.query('UNLOCK TABLES');
      await waitUntil(
        async () => (await statusOf(agent, id)).body.status === 'delivered' || undefined,
        15_000,
        'the message to be stored',
      );
    } finally {
      await lock.end();
    }
  });
});

describe('errors everywhere', () => {
  it('405 for a known path with another method, with Allow', async () => {
    const response = await sendJson(agent, 'DELETE', messagesUrl());
    expectErrorSchema(response, 405, 'METHOD_NOT_ALLOWED');
    expect(response.headers.allow).toContain('POST');
  });

  it('404, 413, 415, 400 and a refusal from the certificate hook all carry the schema and X-Request-Id', async () => {
    expectErrorSchema(await getJson(agent, `${broker.url}/nope`), 404, 'NOT_FOUND');
    expectErrorSchema(
      await postJson(agent, broker.url, { ...valid, message_body: 'x'.repeat(40_000) }),
      413,
      'PAYLOAD_TOO_LARGE',
    );
    expectErrorSchema(
      await postJson(agent, broker.url, 'hi', { 'content-type': 'text/plain' }),
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    );
    expectErrorSchema(await postJson(agent, broker.url, '{"a":'), 400, 'MALFORMED_JSON');
    expectErrorSchema(await postJson(anonymous, broker.url, valid), 401, 'UNAUTHORIZED');
  });

  it('answers a request the HTTP parser refuses in the schema too', async () => {
    const { port } = new URL(broker.url);
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = connect(
        { host: '127.0.0.1', port: Number(port), ca: demoBundle(workspace).ca, servername: 'localhost' },
        () => socket.write('NOT HTTP AT ALL\r\n\r\n'),
      );
      let text = '';
      socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
      socket.on('close', () => resolve(text));
      socket.on('error', reject);
    });
    expect(raw).toMatch(/^HTTP\/1\.1 400/);
    const body = JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)) as Record<string, unknown>;
    expect(body).toMatchObject({ error_code: 'BAD_REQUEST', tracking_id: expect.any(String) });
    expect(raw).toContain(`X-Request-Id: ${String(body.tracking_id)}`);
  });

  it("logs the tracking id with the refusal, and the client's own X-Request-Id apart", async () => {
    const response = await postJson(agent, broker.url, { nope: 1 }, { 'x-request-id': 'trace-me-4711' });
    const trackingId = String(response.body.tracking_id);
    expect(trackingId).not.toBe('trace-me-4711');
    expect(response.headers['x-client-request-id']).toBe('trace-me-4711');
    const line = new RegExp(
      `"tracking_id":"${trackingId}".*"client_request_id":"trace-me-4711".*"error_code":"INVALID_PAYLOAD"`,
    );
    await waitUntil(async () => line.test(broker.output) || undefined, 5000, 'the log line');
  });
});

describe('OpenAPI', () => {
  it('serves the document at /docs/json, without a client certificate', async () => {
    const response = await getJson(anonymous, `${broker.url}/docs/json`);
    expect(response.status).toBe(200);
    expect(response.body.openapi).toBe('3.1.0');
    expect(Object.keys(response.body.paths as object)).toEqual(
      expect.arrayContaining(['/api/v1/messages', '/api/v1/messages/batch', '/api/v1/messages/{message_id}']),
    );
  });

  it('serves exactly the committed openapi.json, the nine /api/v1/admin/* paths included', async () => {
    const served = await getJson(anonymous, `${broker.url}/docs/json`);
    const committed = JSON.parse(readFileSync(join(ROOT, 'openapi.json'), 'utf8')) as { paths: object };
    expect(Object.keys(committed.paths).filter((path) => path.startsWith('/api/v1/admin/'))).toHaveLength(9);
    expect(served.body, 'openapi.json differs from /docs/json: run `npm run openapi` and commit it').toEqual(committed);
  });

  it('serves Swagger UI at /docs with every asset from the broker itself', async () => {
    const page = await request(`${broker.url}/docs/`, { dispatcher: anonymous });
    const html = await page.body.text();
    expect(page.statusCode).toBe(200);
    expect(html).toContain('swagger-ui');
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
    const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(assets.length).toBeGreaterThan(2);
    for (const asset of assets) {
      const response = await request(new URL(asset, `${broker.url}/docs/`), { dispatcher: anonymous });
      await response.body.dump();
      expect(response.statusCode, asset).toBe(200);
    }
  });
});

describe('health', () => {
  it("shows this instance's heartbeat and config fingerprint", async () => {
    const health = await getJson(anonymous, `${broker.url}/api/v1/health`);
    const instances = (health.body.components as Record<string, Record<string, unknown>>).instances!;
    expect(instances.status).toBe('up');
    expect(instances.fingerprint).toMatch(/^[0-9a-f]{64}$/);
    expect((instances.instances as unknown[]).length).toBe(1);
  });
});
