/**
 * Status events pushed over WebSocket (issue #21), two brokers sharing Redis and MariaDB:
 * a client subscribed on broker B sees its message submitted through broker A become
 * `delivered` within a second; another client of the same domain sees nothing of it;
 * a reconnect with last_event_id loses nothing and repeats nothing; a webhook domain's
 * retry shows as `retry_scheduled`; a disabled client's socket is closed with 4403.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BrokerProcess,
  createWorkspace,
  demoBundle,
  getJson,
  mtlsAgent,
  postJson,
  type ClientBundle,
  type Workspace,
} from '../support/broker-harness.js';
import { EventSocketClient } from '../support/event-socket-client.js';
import { runCli, runCliJson } from '../support/mb-cli.js';
import { startDownstream, type Downstream } from '../support/webhook-downstream.js';

const message = { sender_number: '+14155550123', message_body: 'status events' };

let workspace: Workspace;
let downstream: Downstream;
let a: BrokerProcess;
let b: BrokerProcess;
let demo: ClientBundle;
let bob: ClientBundle;
let carol: ClientBundle;
const agents: Agent[] = [];
const sockets: EventSocketClient[] = [];

async function issue(name: string, domain: string): Promise<ClientBundle> {
  const out = join(workspace.dir, `${name}.${domain}`);
  const issued = await runCliJson<{ files: { cert: string; key: string; ca: string } }>(
    ['client', 'issue', name, '--domain', domain, '--out', out],
    workspace.configPath,
  );
  const read = (path: string) => readFileSync(path, 'utf8');
  return { cert: read(issued.files.cert), key: read(issued.files.key), ca: read(issued.files.ca) };
}

function agentOf(bundle: ClientBundle): Agent {
  const agent = mtlsAgent(bundle);
  agents.push(agent);
  return agent;
}

async function subscribe(broker: BrokerProcess, bundle: ClientBundle, query = ''): Promise<EventSocketClient> {
  const socket = await EventSocketClient.open(broker.url, bundle, query);
  sockets.push(socket);
  return socket;
}

async function submit(broker: BrokerProcess, agent: Agent): Promise<string> {
  const response = await postJson(agent, broker.url, message);
  expect(response.status).toBe(202);
  return response.body.message_id as string;
}

beforeAll(async () => {
  // First attempt of each message refused (500), the second accepted.
  downstream = await startDownstream((_body, attempt) => (attempt === 1 ? 500 : 200));
  workspace = await createWorkspace({
    events: { ws_ping_interval_ms: 1000 },
    domains: [
      { name: 'default' },
      {
        name: 'hooks',
        retry_interval_ms: 300,
        target: { type: 'webhook', url: downstream.url, secret: 'hooks-secret', ca_file: downstream.caFile },
      },
    ],
  });
  a = new BrokerProcess(workspace, { MB_INSTANCE_ID: 'host-a' });
  await a.start();
  b = new BrokerProcess(workspace, { MB_INSTANCE_ID: 'host-b' });
  await b.start();
  demo = demoBundle(workspace);
  bob = await issue('bob', 'default');
  carol = await issue('carol', 'hooks');
}, 180_000);

afterAll(async () => {
  for (const socket of sockets) socket.close();
  await Promise.all(agents.map((agent) => agent.close()));
  await Promise.all([a?.kill('SIGKILL'), b?.kill('SIGKILL')]);
  await downstream?.close();
  await workspace?.cleanup();
});

describe('status events over WebSocket, two brokers', () => {
  it('pushes delivered to the submitter on B within 1 s of a submit through A, and nothing to another client', async () => {
    const onB = await subscribe(b, demo);
    const bobOnB = await subscribe(b, bob);
    const bobOnA = await subscribe(a, bob);
    const id = await submit(a, agentOf(demo));
    const accepted = Date.now();
    await onB.waitFor(() => onB.of(id).some((e) => e.type === 'delivered'), 1000, 'delivered within 1 s');
    expect(Date.now() - accepted).toBeLessThan(1000);
    const events = onB.of(id);
    expect(events.map((e) => e.type)).toEqual(['queued', 'stored', 'delivered']);
    expect(events[2]).toMatchObject({ client_id: 'demo.default', domain: 'default', attempt: 1 });
    // Ordered, unique ids; no body or number in any frame.
    expect(new Set(events.map((e) => e.event_id)).size).toBe(3);
    expect(JSON.stringify(events)).not.toMatch(/status events|4155550123/);
    await new Promise((r) => setTimeout(r, 500));
    expect(bobOnB.events).toEqual([]);
    expect(bobOnA.events).toEqual([]);
  });

  it('resumes after last_event_id: nothing lost while away, nothing twice', async () => {
    const agent = agentOf(demo);
    const first = await subscribe(a, demo);
    const before = await submit(b, agent);
    await first.waitFor(() => first.of(before).some((e) => e.type === 'delivered'), 5000, 'first delivered');
    const last = first.events.at(-1)!.event_id;
    first.close();
    const away = [await submit(b, agent), await submit(a, agent), await submit(b, agent)];
    // Stored and delivered while nobody listened.
    await new Promise((r) => setTimeout(r, 1500));
    const again = await subscribe(a, demo, `last_event_id=${last}`);
    const resumed = again.events.filter((e) => away.includes(e.message_id));
    expect(resumed).toHaveLength(9);
    for (const id of away) expect(again.of(id).map((e) => e.type)).toEqual(['queued', 'stored', 'delivered']);
    expect(again.events.some((e) => e.message_id === before)).toBe(false);
    const ids = again.events.map((e) => e.event_id);
    expect(new Set(ids).size).toBe(ids.length);
    // Live afterwards, on the same socket.
    const live = await submit(b, agent);
    await again.waitFor(() => again.of(live).some((e) => e.type === 'delivered'), 5000, 'live after resume');
  });

  it('filters by type and message id, from the query and from a filter frame', async () => {
    const agent = agentOf(demo);
    const delivered = await subscribe(b, demo, 'type=delivered');
    const id = await submit(a, agent);
    await delivered.waitFor(() => delivered.of(id).length > 0, 5000, 'delivered only');
    expect(delivered.events.every((e) => e.type === 'delivered')).toBe(true);

    const other = await submit(a, agent);
    const one = await subscribe(a, demo);
    one.send({ message_ids: [other] });
    one.send('not a filter');
    await one.waitFor(() => one.controls.some((c) => c.type === 'error'), 5000, 'an error frame');
    expect(one.controls.find((c) => c.type === 'error')).toMatchObject({ error_code: 'INVALID_PAYLOAD' });
    const unseen = await submit(b, agent);
    await delivered.waitFor(() => delivered.of(unseen).length > 0, 5000, 'unseen delivered');
    await new Promise((r) => setTimeout(r, 300));
    expect(one.of(unseen)).toEqual([]);
  });

  it('shows a webhook retry: retry_scheduled with its next attempt and error class, then delivered', async () => {
    const socket = await subscribe(b, carol);
    const id = await submit(a, agentOf(carol));
    await socket.waitFor(() => socket.of(id).some((e) => e.type === 'delivered'), 10_000, 'webhook delivered');
    const events = socket.of(id);
    expect(events.map((e) => e.type)).toEqual(['queued', 'stored', 'retry_scheduled', 'delivered']);
    expect(events[2]).toMatchObject({ attempt: 1, error_class: 'http_5xx', client_id: 'carol.hooks', domain: 'hooks' });
    expect(Date.parse(events[2]!.next_attempt_at!)).toBeGreaterThan(Date.parse(events[2]!.at));
    expect(events[3]).toMatchObject({ attempt: 2 });
  });

  it('refuses a plain GET (426) and a caller without a certificate (401)', async () => {
    const plain = await getJson(agentOf(demo), `${a.url}/api/v1/events`);
    expect(plain.status).toBe(426);
    expect(plain.body).toMatchObject({ error_code: 'UPGRADE_REQUIRED' });
    const bad = await getJson(agentOf(demo), `${a.url}/api/v1/events?type=nonsense`);
    expect(bad.status).toBeGreaterThanOrEqual(400);
    expect(bad.status).toBeLessThan(500);
    await expect(EventSocketClient.open(a.url, { ca: demo.ca })).rejects.toMatchObject({ status: 401 });
  });

  it('closes a disabled client’s socket at once, with 4403 CLIENT_DISABLED', async () => {
    const socket = await subscribe(b, bob);
    const result = await runCli(['client', 'disable', 'bob.default'], { configPath: workspace.configPath });
    expect(result.code, result.stderr).toBe(0);
    const at = Date.now();
    await socket.waitFor(() => socket.closed !== undefined, 3000, 'closed');
    expect(socket.closed).toMatchObject({ code: 4403, reason: 'CLIENT_DISABLED' });
    expect(socket.closed!.at - at).toBeLessThan(1000);
  });
});
