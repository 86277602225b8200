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

it('writes a batch as ready-made text frames in one write, shared by unfiltered sockets, in order', async () => {
  const a = await pair();
  const b = await pair();
  const c = await pair();
  const received = (client: WebSocket) => {
    const got: Array<{ id: string; binary: boolean }> = [];
    client.on('message', (data, isBinary) =>
      got.push({ id: (JSON.parse(data.toString()) as StatusEvent).event_id, binary: isBinary }),
    );
    return got;
  };
  const transportOf = (server: WebSocket) => {
    const transport = (server as unknown as { _socket: import('node:net').Socket })._socket;
    const writes: Buffer[] = [];
    const write = transport.write.bind(transport);
    transport.write = ((chunk: Buffer, ...rest: never[]) => {
      writes.push(chunk);
      return write(chunk, ...rest);
    }) as typeof transport.write;
    return { transport, writes };
  };
  const [gotA, gotB, gotC] = [received(a.client), received(b.client), received(c.client)];
  const [ta, tb, tc] = [transportOf(a.server), transportOf(b.server), transportOf(c.server)];
  const options = { maxBufferedBytes: 1 << 20, pingIntervalMs: 60_000 };
  const sa = new EventSocket(a.server, 1, {}, { ...options, transport: ta.transport });
  const sb = new EventSocket(b.server, 1, {}, { ...options, transport: tb.transport });
  const sc = new EventSocket(c.server, 1, filterOf(undefined, ['queued']), { ...options, transport: tc.transport });
  // A payload past 125 and past 65,535 bytes: the 16- and 64-bit length forms.
  const events = [
    event(1),
    { ...event(2), at: 'x'.repeat(300) },
    event(3, 'queued'),
    { ...event(4), at: 'y'.repeat(70_000) },
  ];
  const batch = { events };
  for (const socket of [sa, sb, sc]) socket.deliverBatch(batch);
  a.server.ping();
  sa.deliverBatch({ events: [event(5)] });
  await new Promise((r) => setTimeout(r, 200));
  const ids = ['1001-0', '1002-0', '1003-0', '1004-0'].map((id) => ({ id, binary: false }));
  expect(gotA).toEqual([...ids, { id: '1005-0', binary: false }]);
  expect(gotB).toEqual(ids);
  expect(gotC).toEqual([{ id: '1003-0', binary: false }]);
  // One write per socket per batch, the same Buffer for the unfiltered sockets.
  expect(ta.writes[0]).toBe(tb.writes[0]);
  expect(tb.writes).toHaveLength(1);
  expect(tc.writes).toHaveLength(1);
  for (const socket of [sa, sb, sc]) socket.close(CLOSE_CODES.GOING_AWAY, 'bye');
});

it('writes nothing to a socket that is closing', async () => {
  const { server } = await pair();
  const transport = (server as unknown as { _socket: import('node:net').Socket })._socket;
  const socket = new EventSocket(server, 1, {}, { maxBufferedBytes: 1 << 20, pingIntervalMs: 60_000, transport });
  server.close(1000, 'done');
  let writes = 0;
  const write = transport.write.bind(transport);
  transport.write = ((...args: Parameters<typeof write>) => {
    writes++;
    return write(...args);
  }) as typeof transport.write;
  socket.deliverBatch({ events: [event(1)] });
  expect(writes).toBe(0);
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

it('cuts off a consumer that stops reading with 4008 when its events come in batches too', async () => {
  const { server, client } = await pair();
  (client as unknown as { _socket: { pause(): void } })._socket.pause();
  const transport = (server as unknown as { _socket: import('node:net').Socket })._socket;
  const socket = new EventSocket(server, 1, {}, { maxBufferedBytes: 64 * 1024, pingIntervalMs: 60_000, transport });
  let batches = 0;
  for (let i = 0; i < 20_000 && server.readyState === WebSocket.OPEN; i++) {
    socket.deliverBatch({ events: [0, 1, 2, 3].map((n) => ({ ...event(i * 4 + n), at: 'x'.repeat(500) })) });
    batches++;
  }
  expect(server.readyState).not.toBe(WebSocket.OPEN);
  expect(batches).toBeLessThan(20_000);
  // Bounded by the limit plus one batch (four events of ~0.6 KB), whatever was offered.
  expect(server.bufferedAmount).toBeLessThan(64 * 1024 + 4096);
}, 15_000);

it('drops a peer that does not answer pings', async () => {
  const { server, client } = await pair();
  // A peer that never answers: ws answers pings by itself unless autoPong is off, so stop its socket.
  (client as unknown as { _socket: { pause(): void } })._socket.pause();
  new EventSocket(server, 1, {}, { maxBufferedBytes: 1 << 20, pingIntervalMs: 100 });
  const [code] = (await once(server, 'close')) as [number];
  expect(code).toBe(1006); // terminated, no close handshake
});
