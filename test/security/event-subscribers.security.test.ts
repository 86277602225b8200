/**
 * The broker's cap on event WebSockets (`events.ws_max_subscribers`) counts the clients'
 * sockets on `/api/v1/events`, not the portal's live pages: a superadmin's overview tab
 * subscribes to every client's events, and counted once per client it filled the cap and
 * every client's socket was refused (503 SUBSCRIBERS_FULL). And one client cannot take
 * them all: past its own `events.ws_max_subscribers_per_client` its upgrade is 429
 * CLIENT_SUBSCRIBERS_FULL while the other clients still subscribe.
 */
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  BrokerProcess,
  createWorkspace,
  demoBundle,
  mtlsAgent,
  type ClientBundle,
  type Workspace,
} from '../support/broker-harness.js';
import { EventSocketClient } from '../support/event-socket-client.js';
import { runCliJson } from '../support/mb-cli.js';
import { HttpsPortalClient } from '../support/portal-https.js';

let workspace: Workspace;
let broker: BrokerProcess;
let demo: ClientBundle;
/** Each closes a socket and resolves once it is closed (the broker then counts it no more). */
const closers: Array<() => Promise<void>> = [];

async function closeAll(): Promise<void> {
  await Promise.all(closers.splice(0).map((close) => close()));
}

async function issue(name: string): Promise<ClientBundle> {
  const out = join(workspace.dir, `${name}.default`);
  const issued = await runCliJson<{ files: { cert: string; key: string; ca: string } }>(
    ['client', 'issue', name, '--domain', 'default', '--out', out],
    workspace.configPath,
  );
  const read = (path: string) => readFileSync(path, 'utf8');
  return { cert: read(issued.files.cert), key: read(issued.files.key), ca: read(issued.files.ca) };
}

async function subscribe(bundle: ClientBundle): Promise<EventSocketClient> {
  const socket = await EventSocketClient.open(broker.url, bundle);
  closers.push(async () => {
    socket.close();
    await socket.waitFor(() => socket.closed !== undefined, 5000, 'closed');
  });
  return socket;
}

/** A portal live socket, open once the broker said `subscribed`. */
function openLive(cookie: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`${broker.url.replace('https', 'wss')}/portal/live`, {
      ca: demo.ca,
      headers: { cookie, origin: broker.url },
    });
    closers.push(async () => {
      const closed = once(socket, 'close');
      socket.close();
      await closed;
    });
    socket.once('message', () => resolve(socket));
    socket.once('unexpected-response', (_request, response) => reject(new Error(`HTTP ${response.statusCode}`)));
    socket.once('error', reject);
  });
}

beforeAll(async () => {
  workspace = await createWorkspace({ events: { ws_max_subscribers: 3, ws_max_subscribers_per_client: 2 } });
  broker = new BrokerProcess(workspace);
  await broker.start();
  demo = demoBundle(workspace);
}, 120_000);

afterAll(async () => {
  await closeAll();
  await broker?.kill('SIGKILL');
  await workspace?.cleanup();
});

it("counts the clients' event sockets only: a superadmin's live page over more clients than the cap takes none", async () => {
  const others = [await issue('one'), await issue('two'), await issue('three')];
  const agent = mtlsAgent({ ca: demo.ca });
  try {
    const root = await HttpsPortalClient.signedInAsFirstAdmin(broker.url, agent, broker.output);
    // Subscribed to each of the four clients' events: four hub subscriptions, over the cap of 3.
    await openLive(root.cookieHeader);
    await subscribe(demo);
    await subscribe(others[0]!);
    await subscribe(others[1]!);
    // The fourth client socket is past the cap.
    await expect(EventSocketClient.open(broker.url, others[2]!)).rejects.toMatchObject({ status: 503 });
  } finally {
    await agent.close();
  }
});

it("refuses a client's sockets past its own limit, and leaves the others' room", async () => {
  await closeAll();
  const first = await subscribe(demo);
  await subscribe(demo);
  await expect(EventSocketClient.open(broker.url, demo)).rejects.toMatchObject({ status: 429 });
  // The broker still has room: another client subscribes.
  await subscribe(await issue('four'));
  // A closed socket gives its place back.
  first.close();
  await first.waitFor(() => first.closed !== undefined, 5000, 'closed');
  await subscribe(demo);
});
