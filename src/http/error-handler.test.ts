import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrokerError } from '../errors.js';
import { frameworkError, installErrorHandlers, toBrokerError } from './error-handler.js';

let app: FastifyInstance;

beforeAll(async () => {
  app = Fastify({ frameworkErrors: frameworkError });
  installErrorHandlers(app);
  app.post(
    '/things/:id',
    {
      schema: {
        params: { type: 'object', properties: { id: { type: 'string', pattern: '^[0-9]+$' } } },
        querystring: {
          type: 'object',
          properties: { limit: { type: 'integer', minimum: 1 } },
          additionalProperties: false,
        },
        headers: { type: 'object', properties: { 'x-mode': { type: 'string', enum: ['a', 'b'] } } },
        body: { type: 'object', required: ['name'], properties: { name: { type: 'string' } } },
      },
    },
    async () => ({ ok: true }),
  );
  await app.ready();
});
afterAll(() => app.close());

const post = (url: string, headers: Record<string, string> = {}, payload: Record<string, unknown> = { name: 'x' }) =>
  app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json', ...headers }, payload });

describe('INVALID_PAYLOAD names the part of the request that is wrong', () => {
  it('the body', async () => {
    const response = await post('/things/1', {}, {});
    expect(response.statusCode).toBe(422);
    expect(response.json()).toMatchObject({
      error_code: 'INVALID_PAYLOAD',
      message: 'The request body does not match the message schema',
      details: [{ field: 'name', rule: 'required' }],
    });
  });

  it('the query string', async () => {
    const response = await post('/things/1?limit=abc');
    expect(response.statusCode).toBe(422);
    expect(response.json()).toMatchObject({
      error_code: 'INVALID_PAYLOAD',
      message: 'The query string does not match what this route accepts',
      details: [{ field: 'limit', rule: 'type' }],
    });
  });

  it('the path', async () => {
    const response = await post('/things/abc');
    expect(response.statusCode).toBe(422);
    expect(response.json()).toMatchObject({
      message: 'The URL path does not match what this route accepts',
      details: [{ field: 'id', rule: 'pattern' }],
    });
  });

  it('a header', async () => {
    const response = await post('/things/1', { 'x-mode': 'c' });
    expect(response.statusCode).toBe(422);
    expect(response.json()).toMatchObject({
      message: 'A request header does not match what this route accepts',
      details: [{ field: 'x-mode', rule: 'enum' }],
    });
  });
});

describe('a 400 that is not about JSON is not MALFORMED_JSON', () => {
  it('a URL path that cannot be decoded is BAD_REQUEST naming the path', async () => {
    for (const url of ['/things/%', '/things/%zz?limit=1', '/docs/%']) {
      const response = await app.inject({ method: 'GET', url });
      expect(response.statusCode, url).toBe(400);
      expect(response.json(), url).toMatchObject({
        error_code: 'BAD_REQUEST',
        message: `The URL path ${url.split('?')[0]} is not valid: a % must start an escape such as %2F`,
      });
    }
  });

  it('a JSON syntax error still is MALFORMED_JSON; another Fastify 400 keeps its own message', async () => {
    const broken = await app.inject({
      method: 'POST',
      url: '/things/1',
      headers: { 'content-type': 'application/json' },
      payload: '{"name":',
    });
    expect(broken.statusCode).toBe(400);
    expect(broken.json()).toMatchObject({ error_code: 'MALFORMED_JSON' });
    expect(toBrokerError(new SyntaxError('Unexpected end of JSON input')).code).toBe('MALFORMED_JSON');
    const other = Object.assign(new Error("Method 'POST' must provide a request body."), {
      code: 'FST_ERR_ROUTE_MISSING_CONTENT',
      statusCode: 400,
    });
    expect(toBrokerError(other)).toMatchObject({
      code: 'BAD_REQUEST',
      message: "Method 'POST' must provide a request body.",
    });
  });
});

describe('how an error is logged', () => {
  it('a 503 at warn with its reason and no stack, a 500 at error with it, a refusal at info with the route', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const stream = { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) };
    const logged = Fastify({ logger: { level: 'info', stream } });
    installErrorHandlers(logged);
    logged.get('/unavailable', async () => {
      throw new BrokerError('QUEUE_UNAVAILABLE', 'Redis does not answer', { outcome: 'unknown' });
    });
    logged.get('/broken', async () => {
      throw new Error('a bug');
    });
    logged.get('/refused', async () => {
      throw new BrokerError('NOT_FOUND');
    });
    try {
      for (const url of ['/unavailable', '/broken', '/refused']) await logged.inject({ method: 'GET', url });
    } finally {
      await logged.close();
    }
    const of = (code: string) => lines.find((l) => l.error_code === code && typeof l.msg === 'string');
    expect(of('QUEUE_UNAVAILABLE')).toMatchObject({
      level: 40,
      msg: 'request failed',
      reason: 'Redis does not answer',
      details: { outcome: 'unknown' },
      method: 'GET',
      route: '/unavailable',
    });
    expect(of('QUEUE_UNAVAILABLE')).not.toHaveProperty('err');
    expect(of('INTERNAL_ERROR')).toMatchObject({ level: 50, msg: 'request failed', err: { message: 'a bug' } });
    expect(of('NOT_FOUND')).toMatchObject({ level: 30, msg: 'request refused', route: '/refused' });
  });
});

describe('PAYLOAD_TOO_LARGE', () => {
  it("names the route's limit, so a client knows by how much to shrink the body", async () => {
    const small = Fastify({ frameworkErrors: frameworkError, bodyLimit: 2048 });
    installErrorHandlers(small);
    small.post('/single', async () => ({ ok: true }));
    small.post('/batch', { bodyLimit: 4096 }, async () => ({ ok: true }));
    await small.ready();
    try {
      for (const [url, limit] of [
        ['/single', 2048],
        ['/batch', 4096],
      ] as const) {
        const response = await small.inject({
          method: 'POST',
          url,
          headers: { 'content-type': 'application/json' },
          payload: JSON.stringify({ body: 'x'.repeat(limit) }),
        });
        expect(response.statusCode, url).toBe(413);
        expect(response.json(), url).toMatchObject({
          error_code: 'PAYLOAD_TOO_LARGE',
          message: expect.stringContaining(`limit of ${limit} bytes (server.body_limit_bytes`),
          details: { limit_bytes: limit },
        });
      }
    } finally {
      await small.close();
    }
  });
});

describe("the event socket's query", () => {
  it('says in words what message_id, type and last_event_id take, not their patterns', async () => {
    const { eventsQuery } = await import('./events.schemas.js');
    const events = Fastify({ frameworkErrors: frameworkError });
    installErrorHandlers(events);
    events.get('/events', { schema: { querystring: eventsQuery } }, async () => ({ ok: true }));
    await events.ready();
    try {
      const detail = async (query: string) =>
        (await events.inject({ method: 'GET', url: `/events?${query}` })).json().details[0];
      expect(await detail('message_id=nope')).toEqual({
        field: 'message_id',
        rule: 'pattern',
        message: 'message_id must be 1 to 100 message ids (UUIDs), comma-separated; more in a filter frame',
      });
      expect(await detail('type=sent')).toEqual({
        field: 'type',
        rule: 'pattern',
        message:
          'type must be event types, comma-separated, among queued, stored, delivered, retry_scheduled, failed, requeued',
      });
      expect((await detail('last_event_id=abc')).message).toBe(
        'last_event_id must be an event_id the broker sent: <ms>-<seq>, e.g. 1765000000000-0',
      );
    } finally {
      await events.close();
    }
  });
});
