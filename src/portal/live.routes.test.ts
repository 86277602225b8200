/**
 * The live socket's session re-check, on a bare Fastify with the route alone: a session
 * that ends while the socket is open (logout, password change, disable: `authenticate`
 * answers undefined) closes it with 4401 at the next refresh, and no hint reaches it
 * first; a changed scope is subscribed afresh. The scoping of hints end to end is in
 * test/e2e/status-events.e2e.test.ts.
 */
import fastifyCookie from '@fastify/cookie';
import websocket from '@fastify/websocket';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import type { UserRow } from '../db/schema.js';
import type { EventSink } from '../events/event-hub.js';
import type { StatusEvent } from '../events/status-event.js';
import type { Authenticated } from './auth.service.js';
import { registerLiveRoute, SESSION_ENDED_CLOSE } from './live.routes.js';
import { SESSION_COOKIE } from './session-tokens.js';
import { scopeOf } from './tenant-scope.js';

const userOf = (fields: Partial<UserRow>) =>
  ({ id: 7, role: 'user', domain: 'alpha', client_id: 1, token_version: 1, disabled: false, ...fields }) as UserRow;

/** What `authenticate` answers for the one token: the test changes it under the socket. */
let session: Authenticated | undefined;
let authChecks = 0;
const sinks = new Map<number, EventSink>();
let unsubscribed: number[] = [];
let app: FastifyInstance | undefined;

afterEach(async () => {
  await app?.close();
  app = undefined;
  sinks.clear();
  authChecks = 0;
});

async function start(refreshMs: number, maxSocketsPerUser?: number): Promise<FastifyInstance> {
  // This server's own list: a previous test's socket may close late.
  const mine: number[] = [];
  unsubscribed = mine;
  const server = Fastify();
  await server.register(fastifyCookie);
  await server.register(websocket);
  // The portal's session hook, reduced: the socket opens with a live session.
  server.addHook('onRequest', async (request) => {
    if (session) request.portal = { ...session, scope: scopeOf(session.user) };
  });
  registerLiveRoute(server, {
    events: {
      subscribe: async (sink) => {
        sinks.set(sink.client, sink);
        return { startAfter: '0-0', unsubscribe: () => void mine.push(sink.client) };
      },
    },
    clients: { list: async () => [{ id: 1 }, { id: 2 }] as never },
    auth: {
      authenticate: async (token) => {
        authChecks++;
        return token === 'the-token' ? session : undefined;
      },
    },
    clientsRefreshMs: refreshMs,
    ...(maxSocketsPerUser === undefined ? {} : { maxSocketsPerUser }),
  });
  await server.listen({ host: '127.0.0.1', port: 0 });
  app = server;
  return server;
}

async function open(
  server: FastifyInstance,
): Promise<{ socket: WebSocket; frames: unknown[]; closed: Promise<number> }> {
  const frames: unknown[] = [];
  let subscribed!: () => void;
  const ready = new Promise<void>((resolve) => {
    subscribed = resolve;
  });
  // Over a real socket on the loopback (inject's WebSocket stand-in speaks an older ws handshake).
  const { port } = server.server.address() as AddressInfo;
  const socket = new WebSocket(`ws://127.0.0.1:${port}/live`, {
    headers: { origin: `https://127.0.0.1:${port}`, cookie: `${SESSION_COOKIE}=the-token` },
  });
  const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
  socket.on('message', (data) => {
    const frame = JSON.parse(String(data)) as { type: string };
    frames.push(frame);
    if (frame.type === 'subscribed') subscribed();
  });
  await Promise.race([
    ready,
    new Promise((_, reject) =>
      socket.once('unexpected-response', (_r, res) => reject(new Error(`HTTP ${res.statusCode}`))),
    ),
  ]);
  return { socket, frames, closed };
}

const event = (type: string) => ({ type, at: new Date().toISOString() }) as StatusEvent;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('the live socket after it opened', () => {
  it('closes with 4401 at the next refresh once the session ended (token version moved, disabled)', async () => {
    session = { user: userOf({}), claims: { userId: 7, version: 1, role: 'user', authTime: 0 } as never };
    const server = await start(50);
    const { closed } = await open(server);
    expect([...sinks.keys()]).toEqual([1]);
    session = undefined; // what authenticate answers after logout, a password change or disable
    expect(await closed).toBe(SESSION_ENDED_CLOSE);
    expect(unsubscribed).toEqual([1]);
  });

  it('checks the session before a hint: a socket whose session ended hears nothing', async () => {
    session = { user: userOf({}), claims: { userId: 7, version: 1, role: 'user', authTime: 0 } as never };
    const server = await start(60_000);
    const { frames, closed } = await open(server);
    await sleep(1100); // past the hint's freshness window
    session = undefined;
    sinks.get(1)!.deliver(event('delivered'));
    expect(await closed).toBe(SESSION_ENDED_CLOSE);
    expect(frames).toEqual([{ type: 'subscribed' }]);
  });

  it('sends hints while the session holds', async () => {
    session = { user: userOf({}), claims: { userId: 7, version: 1, role: 'user', authTime: 0 } as never };
    const server = await start(60_000);
    const { socket, frames } = await open(server);
    sinks.get(1)!.deliver(event('delivered'));
    await sleep(400);
    expect(frames).toContainEqual(expect.objectContaining({ type: 'changed', status: 'delivered' }));
    socket.terminate();
  });

  it('follows a scope change: the old client is dropped, the new scope subscribed, the page hinted', async () => {
    session = { user: userOf({}), claims: { userId: 7, version: 1, role: 'user', authTime: 0 } as never };
    const server = await start(50);
    const { socket, frames } = await open(server);
    expect([...sinks.keys()]).toEqual([1]);
    // Moved to client 2 by an admin (the same session: access changes keep token_version).
    session = { ...session, user: userOf({ client_id: 2 }) };
    const deadline = Date.now() + 3000;
    while (Date.now() < deadline && !frames.some((f) => (f as { status?: string }).status === 'scope')) await sleep(20);
    expect(frames).toContainEqual({ type: 'changed', status: 'scope' });
    expect(unsubscribed).toEqual([1]);
    expect(sinks.has(2)).toBe(true);
    expect(authChecks).toBeGreaterThan(0);
    socket.terminate();
  });
});

describe('live sockets per account', () => {
  it('refuses an account past its limit (429) and counts a closed socket no more', async () => {
    session = { user: userOf({}), claims: { userId: 7, version: 1, role: 'user', authTime: 0 } as never };
    const server = await start(60_000, 2);
    const first = await open(server);
    const second = await open(server);
    await expect(open(server)).rejects.toThrow('HTTP 429');
    first.socket.close();
    await first.closed;
    await sleep(50); // the server's side of the close
    const third = await open(server);
    second.socket.terminate();
    third.socket.terminate();
  });
});
