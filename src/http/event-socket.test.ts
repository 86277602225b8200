/**
 * EventSocket over a real WebSocket pair on loopback: the filter, and a consumer that stops
 * reading is cut off with 4008 once more than the bound is unsent (the broker never
 * buffers on for it), and a peer that stops answering pings is dropped.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { afterEach, expect, it, vi } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import type { StatusEvent } from '../events/status-event.js';
import { CLOSE_CODES, EventSocket, filterOf, textFrameHeader } from './event-socket.js';

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

it('pings every socket of one interval from one timer, and keeps those that answer', async () => {
  const setIntervalSpy = vi.spyOn(globalThis, 'setInterval');
  try {
    const answering = await pair();
    const silent = await pair();
    (silent.client as unknown as { _socket: { pause(): void } })._socket.pause();
    // Long enough for a pong to come back on a loaded box, short enough for a few sweeps.
    const options = { maxBufferedBytes: 1 << 20, pingIntervalMs: 400 };
    const kept = new EventSocket(answering.server, 1, {}, options);
    new EventSocket(silent.server, 1, {}, options);
    new EventSocket((await pair()).server, 1, {}, options);
    expect(setIntervalSpy.mock.calls.filter(([, ms]) => ms === 400)).toHaveLength(1);
    const [code] = (await once(silent.server, 'close')) as [number];
    expect(code).toBe(1006);
    // Several sweeps later the one that answers its pings is still open.
    await new Promise((r) => setTimeout(r, 1300));
    expect(answering.server.readyState).toBe(WebSocket.OPEN);
    kept.close(CLOSE_CODES.GOING_AWAY, 'bye');
  } finally {
    setIntervalSpy.mockRestore();
  }
});

it('writes a read’s events as frames in one write: the same bytes for every socket without a filter, event by event with one', async () => {
  const sockets = await Promise.all([pair(), pair(), pair()]);
  const received = sockets.map(({ client }) => {
    const got: Array<{ id: string; binary: boolean }> = [];
    client.on('message', (data, isBinary) =>
      got.push({ id: (JSON.parse(data.toString()) as StatusEvent).event_id, binary: isBinary }),
    );
    return got;
  });
  const writes: Buffer[][] = [[], [], []];
  const subscribers = sockets.map(({ server }, i) => {
    const transport = (server as unknown as { _socket: import('node:net').Socket })._socket;
    const write = transport.write.bind(transport);
    transport.write = ((chunk: Buffer, ...rest: never[]) => {
      writes[i]!.push(chunk);
      return write(chunk, ...rest);
    }) as typeof transport.write;
    const filter = i === 2 ? filterOf(undefined, ['queued']) : {};
    return new EventSocket(server, 1, filter, { maxBufferedBytes: 1 << 20, pingIntervalMs: 60_000, transport });
  });
  // Payloads of every header size: under 126 bytes, up to 65,535, and over.
  const events = [
    { ...event(1, 'queued'), message_id: 'x' },
    event(2),
    { ...event(3, 'queued'), message_id: 'y'.repeat(70_000) },
    event(4, 'queued'),
  ];
  for (const subscriber of subscribers) subscriber.deliverBatch(events);
  expect(writes[0]).toHaveLength(1);
  expect(writes[1]![0]).toBe(writes[0]![0]);
  await new Promise((r) => setTimeout(r, 200));
  const all = ['1001-0', '1002-0', '1003-0', '1004-0'].map((id) => ({ id, binary: false }));
  expect(received[0]).toEqual(all);
  expect(received[1]).toEqual(all);
  expect(received[2]!.map((e) => e.id)).toEqual(['1001-0', '1003-0', '1004-0']);
  for (const subscriber of subscribers) subscriber.close(CLOSE_CODES.GOING_AWAY, 'bye');
});

it('textFrameHeader encodes the three length forms', () => {
  expect([...textFrameHeader(125)]).toEqual([0x81, 125]);
  expect([...textFrameHeader(126)]).toEqual([0x81, 126, 0, 126]);
  expect([...textFrameHeader(65_535)]).toEqual([0x81, 126, 0xff, 0xff]);
  expect([...textFrameHeader(65_536)]).toEqual([0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0]);
});
