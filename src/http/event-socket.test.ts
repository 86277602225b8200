/**
 * EventSocket over a real WebSocket pair on loopback: the filter, and a consumer that stops
 * reading is cut off with 4008 once more than the bound is unsent (the broker never
 * buffers on for it), and a peer that stops answering pings is dropped.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import type { StatusEvent } from '../events/status-event.js';
import { CLOSE_CODES, EventSocket, filterOf } from './event-socket.js';

const servers: WebSocketServer[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    for (const client of server.clients) client.terminate();
    await new Promise((r) => server.close(r));
  }
});

async function pair(): Promise<{ server: WebSocket; client: WebSocket }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  servers.push(wss);
  await once(wss, 'listening');
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
  const [server] = (await once(wss, 'connection')) as [WebSocket];
  await once(client, 'open');
  return { server, client };
}

function event(i: number, type: StatusEvent['type'] = 'delivered', messageId = `m-${i}`): StatusEvent {
  return {
    event_id: `${1000 + i}-0`,
    type,
    message_id: messageId,
    client_id: 'demo.default',
    domain: 'default',
    attempt: 1,
    at: new Date().toISOString(),
  };
}

it('sends only what the filter keeps', async () => {
  const { server, client } = await pair();
  const got: StatusEvent[] = [];
  client.on('message', (data) => got.push(JSON.parse(data.toString()) as StatusEvent));
  const socket = new EventSocket(server, 1, filterOf(['m-1', 'm-2'], ['delivered']), {
    maxBufferedBytes: 1 << 20,
    pingIntervalMs: 60_000,
  });
  socket.deliver(event(1));
  socket.deliver(event(2, 'queued', 'm-2'));
  socket.deliver(event(3));
  socket.setFilter(filterOf(undefined, ['queued']));
  socket.deliver(event(4, 'queued'));
  await new Promise((r) => setTimeout(r, 100));
  expect(got.map((e) => e.event_id)).toEqual(['1001-0', '1004-0']);
  socket.close(CLOSE_CODES.GOING_AWAY, 'bye');
});

it('writes a batch as text frames through the corked transport, in order', async () => {
  const { server, client } = await pair();
  const transport = (server as unknown as { _socket: import('node:net').Socket })._socket;
  const got: Array<{ id: string; binary: boolean }> = [];
  client.on('message', (data, isBinary) =>
    got.push({ id: (JSON.parse(data.toString()) as StatusEvent).event_id, binary: isBinary }),
  );
  const socket = new EventSocket(server, 1, {}, { maxBufferedBytes: 1 << 20, pingIntervalMs: 60_000, transport });
  const shared = event(1);
  let corkedDuringBatch = 0;
  socket.batch(() => {
    socket.deliver(shared);
    socket.deliver(event(2));
    socket.deliver(event(3));
    corkedDuringBatch = transport.writableCorked;
  });
  expect(corkedDuringBatch).toBeGreaterThan(0);
  expect(transport.writableCorked).toBe(0);
  await new Promise((r) => setTimeout(r, 100));
  expect(got).toEqual([
    { id: '1001-0', binary: false },
    { id: '1002-0', binary: false },
    { id: '1003-0', binary: false },
  ]);
  socket.close(CLOSE_CODES.GOING_AWAY, 'bye');
});

it('cuts off a consumer that stops reading with 4008 instead of buffering its events', async () => {
  const { server, client } = await pair();
  // The client stops reading: the kernel buffers fill, then the sender's own buffer grows.
  (client as unknown as { _socket: { pause(): void } })._socket.pause();
  const socket = new EventSocket(server, 1, {}, { maxBufferedBytes: 64 * 1024, pingIntervalMs: 60_000 });
  const closing = new Promise<number>((resolve) => server.once('close', (code) => resolve(code)));
  let sent = 0;
  for (let i = 0; i < 200_000 && server.readyState === WebSocket.OPEN; i++) {
    socket.deliver({ ...event(i), at: 'x'.repeat(500) });
    sent++;
  }
  expect(server.readyState).not.toBe(WebSocket.OPEN);
  expect(sent).toBeLessThan(200_000);
  // What stays buffered is bounded by the limit plus one event, not by what was offered.
  expect(server.bufferedAmount).toBeLessThan(64 * 1024 + 4096);
  const code = await closing;
  // The peer never answered the close handshake: cut after the grace period.
  expect([CLOSE_CODES.SLOW_CONSUMER, 1006]).toContain(code);
}, 15_000);

it('drops a peer that does not answer pings', async () => {
  const { server, client } = await pair();
  // A peer that never answers: ws answers pings by itself unless autoPong is off, so stop its socket.
  (client as unknown as { _socket: { pause(): void } })._socket.pause();
  new EventSocket(server, 1, {}, { maxBufferedBytes: 1 << 20, pingIntervalMs: 100 });
  const [code] = (await once(server, 'close')) as [number];
  expect(code).toBe(1006); // terminated, no close handshake
});
