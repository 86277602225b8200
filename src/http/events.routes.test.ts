/**
 * The upgrade's request is not kept for the life of an event socket: once the WebSocket is
 * open nothing holds the `IncomingMessage` (a thousand idle subscribers would each keep
 * their upgrade's headers, request and reply), and socket errors still close the socket.
 */
import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import websocket from '@fastify/websocket';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { parseFilterFrame, releaseUpgrade } from './events.routes.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const apps: FastifyInstance[] = [];
const clients: WebSocket[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.terminate();
  for (const app of apps.splice(0)) await app.close();
});

/** A server whose route hands each upgraded socket to `onSocket`; the upgrade requests are watched through WeakRefs. */
async function serve(release: boolean) {
  const app = Fastify();
  apps.push(app);
  await app.register(websocket);
  const requests: Array<WeakRef<IncomingMessage>> = [];
  const errors: Error[] = [];
  const sockets: WebSocket[] = [];
  app.get('/ws', { websocket: true }, (socket, request) => {
    if (release)
      releaseUpgrade(socket, request.raw, function (this: WebSocket, error: Error) {
        errors.push(error);
        this.terminate();
      });
    requests.push(new WeakRef(request.raw));
    sockets.push(socket);
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as AddressInfo).port;
  const open = async () => {
    const client = new WebSocket(`ws://127.0.0.1:${port}/ws`);
    clients.push(client);
    await once(client, 'open');
    return client;
  };
  return { open, requests, errors, sockets };
}

async function collected(refs: Array<WeakRef<object>>): Promise<number> {
  // A WeakRef holds its target until the current job ends: collect in a later turn.
  for (let i = 0; i < 3; i++) {
    await new Promise((r) => setTimeout(r, 20));
    gc();
  }
  return refs.filter((ref) => ref.deref() === undefined).length;
}

it('lets the upgrade request go while the socket stays open', async () => {
  const server = await serve(true);
  const client = await server.open();
  await server.open();
  await new Promise((r) => setTimeout(r, 50));
  expect(await collected(server.requests)).toBe(2);
  // The socket still works both ways.
  const echoed = once(client, 'message');
  server.sockets[0]!.send('still here');
  expect(String((await echoed)[0])).toBe('still here');
});

it('keeps the upgrade request without it (what the test above guards against)', async () => {
  const server = await serve(false);
  await server.open();
  await new Promise((r) => setTimeout(r, 50));
  expect(await collected(server.requests)).toBe(0);
});

it('still closes a socket that errs, through the listener it was given', async () => {
  const server = await serve(true);
  await server.open();
  await new Promise((r) => setTimeout(r, 50));
  const socket = server.sockets[0]!;
  expect(socket.listenerCount('error')).toBe(1);
  // Not events.once: it would listen for 'error' too.
  const closed = new Promise((resolve) => socket.once('close', resolve));
  socket.emit('error', new Error('boom'));
  await closed;
  expect(server.errors.map((e) => e.message)).toEqual(['boom']);
});

describe('a filter frame', () => {
  const ID = '01a2537c-c6e0-710a-ac70-4605b85e0f5b';

  it('becomes the filter when it has the documented shape (ids in any case)', () => {
    expect(parseFilterFrame(JSON.stringify({ message_ids: [ID.toUpperCase()], types: ['delivered'] }))).toEqual({
      messageIds: new Set([ID]),
      types: new Set(['delivered']),
    });
  });

  it('filters nothing on a field left out or given as an empty list (README)', () => {
    expect(parseFilterFrame('{}')).toEqual({});
    expect(parseFilterFrame(JSON.stringify({ message_ids: [], types: [] }))).toEqual({});
    expect(parseFilterFrame(JSON.stringify({ types: [], message_ids: [ID] }))).toEqual({ messageIds: new Set([ID]) });
  });

  it('says what is wrong with it, not only what a frame looks like', () => {
    const problem = (frame: string) => (parseFilterFrame(frame) as { problem?: string }).problem;
    expect(problem('nope')).toBe('the frame is not JSON');
    expect(problem('[1]')).toBe('the frame is not a JSON object');
    expect(problem('{"type":["delivered"]}')).toBe('type is not a filter field');
    expect(problem('{"message_ids":"x"}')).toBe('message_ids must be a list of strings');
    expect(problem('{"message_ids":["x"]}')).toBe('message_ids: "x" is not a UUID');
    expect(problem(JSON.stringify({ message_ids: Array(1001).fill(ID) }))).toBe(
      'message_ids holds 1001 ids, at most 1000',
    );
    expect(problem('{"types":["delivered","sent"]}')).toBe(
      'types: "sent" is not one of queued, stored, delivered, retry_scheduled, failed, requeued',
    );
  });
});
