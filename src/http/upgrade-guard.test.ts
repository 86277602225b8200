/**
 * An upgrade to a route that takes none, or a malformed WebSocket handshake, gets the
 * broker's JSON 400 instead of a 101 and an immediate close (or ws' HTML 400); a good
 * handshake to a WebSocket route still opens.
 */
import { once } from 'node:events';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import websocket from '@fastify/websocket';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { BrokerError } from '../errors.js';
import { guardUpgrades } from './upgrade-guard.js';

let app: FastifyInstance;
let port: number;

beforeAll(async () => {
  app = Fastify();
  app.setErrorHandler((error: Error, _request, reply) => {
    const code = error instanceof BrokerError ? error.code : 'INTERNAL_ERROR';
    void reply
      .code(error instanceof BrokerError ? error.status : 500)
      .send({ error_code: code, message: error.message });
  });
  guardUpgrades(app);
  await app.register(websocket);
  app.get('/ws', { websocket: true }, (socket) => socket.send('hello'));
  app.get('/plain', async () => ({ ok: true }));
  await app.listen({ host: '127.0.0.1', port: 0 });
  port = (app.server.address() as AddressInfo).port;
});
afterAll(() => app.close());

/** Sends a raw request and reads what comes back until the server closes (or 2 s). */
async function raw(request: string): Promise<string> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.end(request);
  let out = '';
  socket.on('data', (chunk: Buffer) => {
    out += chunk.toString('latin1');
  });
  await Promise.race([once(socket, 'close'), new Promise((r) => setTimeout(r, 2000))]);
  socket.destroy();
  return out;
}

const upgrade = (path: string, headers: Record<string, string>) =>
  raw(
    `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n${Object.entries(headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('')}\r\n`,
  );
const GOOD = { Upgrade: 'websocket', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version': '13' };

describe('guardUpgrades', () => {
  it('refuses an upgrade to a route that takes none with a JSON 400, not a 101', async () => {
    const answer = await upgrade('/plain', GOOD);
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    expect(answer).toContain('"error_code":"BAD_REQUEST"');
    expect(answer).toContain('/plain takes no protocol upgrade');
  });

  it.each([
    [{ ...GOOD, Upgrade: 'h2c' }, 'Only an upgrade to websocket'],
    [{ Upgrade: 'websocket', 'Sec-WebSocket-Version': '13' }, 'Sec-WebSocket-Key is missing'],
    [{ ...GOOD, 'Sec-WebSocket-Key': 'short' }, 'Sec-WebSocket-Key is missing'],
    [{ ...GOOD, 'Sec-WebSocket-Version': '7' }, 'Sec-WebSocket-Version must be 13'],
  ])('refuses a malformed handshake on a WebSocket route with JSON: %j', async (headers, message) => {
    const answer = await upgrade('/ws', headers);
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    expect(answer).toContain('application/json');
    expect(answer).toContain(message);
  });

  it('lets a good handshake open, and plain requests through', async () => {
    const client = new WebSocket(`ws://127.0.0.1:${port}/ws`);
    const [data] = (await once(client, 'message')) as [Buffer];
    expect(data.toString()).toBe('hello');
    client.close();
    const plain = await raw('GET /plain HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(plain).toMatch(/^HTTP\/1\.1 200 /);
  });
});
