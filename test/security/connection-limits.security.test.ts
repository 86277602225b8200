/**
 * One client certificate — or, without a trusted one, one address — holds at most
 * `server.max_connections_per_client` TLS connections: a request on one beyond is answered
 * 429 TOO_MANY_CONNECTIONS with `Connection: close` and the socket closes, while the other
 * owners' connections go on; once one of its connections closes, the owner may open
 * another. The real supervisor, raw TLS sockets.
 */
import { once } from 'node:events';
import { connect, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BrokerProcess,
  createWorkspace,
  demoBundle,
  type ClientBundle,
  type Workspace,
} from '../support/broker-harness.js';

const PER_CLIENT = 3;
let workspace: Workspace;
let broker: BrokerProcess;
let demo: ClientBundle;
const sockets: TLSSocket[] = [];

beforeAll(async () => {
  workspace = await createWorkspace({ server: { max_connections_per_client: PER_CLIENT } });
  broker = new BrokerProcess(workspace);
  await broker.start();
  demo = demoBundle(workspace);
}, 120_000);

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await broker?.kill('SIGTERM');
  await workspace?.cleanup();
});

/** A TLS connection to the broker, with the demo client's certificate or none. */
async function open(withCertificate: boolean): Promise<TLSSocket> {
  const { port } = new URL(broker.url);
  const socket = connect({
    host: '127.0.0.1',
    port: Number(port),
    ca: demo.ca,
    servername: 'localhost',
    ...(withCertificate ? { cert: demo.cert, key: demo.key } : {}),
  });
  sockets.push(socket);
  await once(socket, 'secureConnect');
  return socket;
}

/** One keep-alive GET on the socket: its status line and headers. */
async function get(socket: TLSSocket, path: string): Promise<{ status: number; head: string; body: string }> {
  let raw = '';
  const answered = new Promise<void>((resolve) => {
    const onData = (chunk: Buffer) => {
      raw += chunk.toString();
      const end = raw.indexOf('\r\n\r\n');
      const length = /content-length: (\d+)/i.exec(raw)?.[1];
      if (end >= 0 && length !== undefined && raw.length >= end + 4 + Number(length)) {
        socket.off('data', onData);
        resolve();
      }
    };
    socket.on('data', onData);
  });
  socket.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n`);
  await answered;
  const [head, body] = [raw.slice(0, raw.indexOf('\r\n\r\n')), raw.slice(raw.indexOf('\r\n\r\n') + 4)];
  return { status: Number(head.split(' ')[1]), head: head.toLowerCase(), body };
}

const closed = (socket: TLSSocket) =>
  socket.destroyed ? Promise.resolve() : (once(socket, 'close').then(() => undefined) as Promise<void>);

describe('connections per client', () => {
  it('answers a request on a client certificate’s connection beyond the limit 429 and closes it; the others go on', async () => {
    const held = [];
    for (let i = 0; i < PER_CLIENT; i++) held.push(await open(true));
    for (const socket of held) expect((await get(socket, '/healthz')).status).toBe(200);

    const extra = await open(true);
    const refused = await get(extra, '/healthz');
    expect(refused.status).toBe(429);
    expect(JSON.parse(refused.body)).toMatchObject({ error_code: 'TOO_MANY_CONNECTIONS' });
    expect(refused.head).toContain('connection: close');
    expect(refused.head).toContain('retry-after: 1');
    await closed(extra);

    // Without a certificate (a browser at the portal), counted by address, apart from the client's.
    const anonymous = await open(false);
    expect((await get(anonymous, '/healthz')).status).toBe(200);
    // The held ones still work, and once one closes the client may open another.
    expect((await get(held[0]!, '/healthz')).status).toBe(200);
    held[0]!.destroy();
    await closed(held[0]!);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const again = await open(true);
    expect((await get(again, '/healthz')).status).toBe(200);
  }, 60_000);

  it('counts connections without a certificate by address', async () => {
    const held = [];
    for (let i = 0; i < PER_CLIENT - 1; i++) held.push(await open(false)); // one is open from the test above
    for (const socket of held) expect((await get(socket, '/healthz')).status).toBe(200);
    const extra = await open(false);
    expect((await get(extra, '/healthz')).status).toBe(429);
  }, 60_000);
});
