import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CallbackClient } from './callback-client.js';
import type { StatusEvent } from './status-event.js';

let server: Server;
let url: string;
const received: Array<{ headers: IncomingHttpHeaders; body: string }> = [];
const client = new CallbackClient(2000, 4);
const SECRET = 'callback-secret-for-tests';

beforeAll(async () => {
  server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      received.push({ headers: request.headers, body });
      if (request.url === '/hang') return; // takes the POST, never answers
      response.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/cb`;
});

afterAll(async () => {
  server.closeAllConnections();
  await client.close();
  await new Promise((resolve) => server.close(resolve));
});

const event = (clientId: string, messageId: string): StatusEvent => ({
  // One store batch appends several clients' events in one millisecond: each client's
  // stream gives its first one the same id.
  event_id: '1796672854406-0',
  type: 'stored',
  message_id: messageId,
  client_id: clientId,
  domain: 'gamma',
  attempt: 0,
  at: '2026-12-07T19:47:34.406Z',
});

describe('CallbackClient', () => {
  it("gives two clients' events of the same stream id different webhook-ids, each one signed", async () => {
    const events = [
      event('g1.gamma', '01a2520c-18d6-76c1-bda4-7941e3e49cc1'),
      event('g2.gamma', '01a2520c-196e-7dbc-a050-be023c2cdbdd'),
    ];
    for (const e of events)
      expect(await client.post({ url, secret: SECRET, caFile: '' }, e)).toMatchObject({ ok: true });
    const ids = received.map((r) => r.headers['webhook-id']);
    expect(ids).toEqual(['g1.gamma:1796672854406-0', 'g2.gamma:1796672854406-0']);
    for (const { headers, body } of received) {
      const signed = `${String(headers['webhook-id'])}.${String(headers['webhook-timestamp'])}.${body}`;
      const expected = createHmac('sha256', Buffer.from(SECRET, 'utf8')).update(signed).digest('base64');
      expect(headers['webhook-signature']).toBe(`v1,${expected}`);
    }
  });

  it('sends the same webhook-id for the same event again (a retry a receiver drops)', async () => {
    received.length = 0;
    const e = event('g1.gamma', '01a2520c-18d6-76c1-bda4-7941e3e49cc1');
    await client.post({ url, secret: SECRET, caFile: '' }, e);
    await client.post({ url, secret: SECRET, caFile: '' }, e);
    expect(received[0]!.headers['webhook-id']).toBe(received[1]!.headers['webhook-id']);
  });

  it('names a receiver that never answers a timeout, in words, as a retryable failure', async () => {
    // AbortSignal.timeout's DOMException carries the legacy numeric code 23: the outcome
    // (kept in the callbacks' dead letters and logged) read "23: The operation was aborted…".
    const quick = new CallbackClient(200, 1);
    const outcome = await quick.post(
      { url: url.replace(/\/cb$/, '/hang'), secret: SECRET, caFile: '' },
      event('g1.gamma', '01a2520c-18d6-76c1-bda4-7941e3e49cc1'),
    );
    await quick.close();
    expect(outcome).toEqual({ ok: false, error: 'UND_ERR_TIMEOUT: no answer within 200 ms', retryable: true });
  });
});
