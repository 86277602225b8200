/**
 * `npx tsx bench/fanout-write-cost.ts [--sockets 10 --events 10 --reads 20000 --mode both]`
 *
 * The main thread's CPU to write one read's events to a client's WebSockets over TLS, alone:
 * `sockets` WebSockets on loopback TLS (the subscribers in a worker thread, which only
 * counts frames), and `reads` times the same `events`-event batch handed to every socket,
 * as the hub does. `legacy`: the path before (cork the TLS socket, `EventSocket.deliver`
 * per event: its payload serialised once per event, `ws.send`; uncork); `frames`: `EventSocket.deliverBatch` (one write of ready-made frames shared by
 * the sockets). Reported: main-thread CPU µs per frame and per socket write
 * (`process.threadCpuUsage()`), which a busy box inflates less than wall-clock rates.
 */
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { WebSocketServer, type WebSocket } from 'ws';
import type { StatusEvent } from '../src/events/status-event.js';
import { EventSocket } from '../src/http/event-socket.js';

const value = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : fallback;
};
const SOCKETS = Number(value('sockets', '10'));
const EVENTS = Number(value('events', '10'));
const READS = Number(value('reads', '20000'));
const MODES = value('mode', 'both') === 'both' ? ['legacy', 'frames', 'legacy', 'frames'] : [value('mode', 'frames')];

function batchOf(read: number): StatusEvent[] {
  const at = new Date().toISOString();
  return Array.from({ length: EVENTS }, (_, i) => ({
    event_id: `${1_765_000_000_000 + read}-${i}`,
    type: 'delivered' as const,
    message_id: '0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b',
    client_id: 'fan1.default',
    domain: 'default',
    attempt: 1,
    at,
  }));
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'mb-fanout-cost-'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
    ],
    { stdio: 'ignore' },
  );
  const server = createServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) });
  const wss = new WebSocketServer({ server });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const sockets: WebSocket[] = [];
  wss.on('connection', (socket) => sockets.push(socket));
  writeFileSync(join(dir, 'worker.mjs'), WORKER);
  const worker = new Worker(join(dir, 'worker.mjs'), { workerData: { port, sockets: SOCKETS } });
  await new Promise((r) => worker.once('message', r));
  while (sockets.length < SOCKETS) await new Promise((r) => setTimeout(r, 10));
  const results: Array<Record<string, unknown>> = [];
  for (const mode of MODES) {
    const subscribers = sockets.map((socket) => {
      const transport = (socket as unknown as { _socket: import('node:net').Socket })._socket;
      return {
        socket,
        transport,
        sink: new EventSocket(socket, 1, {}, { maxBufferedBytes: 64 << 20, pingIntervalMs: 3_600_000, transport }),
      };
    });
    const before = process.threadCpuUsage();
    for (let read = 0; read < READS; read++) {
      const events = batchOf(read);
      const batch = { events };
      for (const { transport, sink } of subscribers) {
        if (mode === 'frames') sink.deliverBatch(batch);
        else {
          transport.cork();
          for (const event of events) sink.deliver(event);
          transport.uncork();
        }
      }
      // Let the sockets drain now and then, as reads are spread in time.
      if (read % 50 === 49) await new Promise((r) => setImmediate(r));
    }
    while (sockets.some((s) => s.bufferedAmount > 0)) await new Promise((r) => setTimeout(r, 5));
    const cpu = process.threadCpuUsage(before);
    const us = cpu.user + cpu.system;
    results.push({
      mode,
      frames: READS * EVENTS * SOCKETS,
      main_cpu_s: Math.round(us / 1e4) / 100,
      us_per_frame: Math.round((us / (READS * EVENTS * SOCKETS)) * 1000) / 1000,
      us_per_socket_write: Math.round((us / (READS * SOCKETS)) * 100) / 100,
    });
  }
  const expected = READS * EVENTS * SOCKETS * MODES.length;
  let received = 0;
  for (let tries = 0; tries < 200 && received < expected; tries++) {
    worker.postMessage('count');
    received = (await new Promise((r) => worker.once('message', r))) as number;
    if (received < expected) await new Promise((r) => setTimeout(r, 50));
  }
  process.stdout.write(
    `${JSON.stringify({ sockets: SOCKETS, events_per_read: EVENTS, reads: READS, expected, received, results }, null, 2)}\n`,
  );
  await worker.terminate();
  for (const socket of sockets) socket.terminate();
  server.close();
}

const WORKER = `
import { parentPort, workerData } from 'node:worker_threads';
import WebSocket from ${JSON.stringify(import.meta.resolve('ws'))};
let frames = 0;
let open = 0;
for (let i = 0; i < workerData.sockets; i++) {
  const socket = new WebSocket('wss://127.0.0.1:' + workerData.port, { rejectUnauthorized: false, skipUTF8Validation: true });
  socket.on('message', () => frames++);
  socket.on('open', () => { if (++open === workerData.sockets) parentPort.postMessage('open'); });
}
parentPort.on('message', () => parentPort.postMessage(frames));
`;

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack}\n`);
  process.exit(1);
});
