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
  sendJson,
  type ClientBundle,
  waitUntil,
  type Workspace,
} from '../support/broker-harness.js';
import { EventSocketClient } from '../support/event-socket-client.js';
import { scrapeMetrics } from '../support/metrics-scrape.js';
import { runCli, runCliJson } from '../support/mb-cli.js';
import { HttpsPortalClient } from '../support/portal-https.js';
import type { StatusEvent } from '../../src/events/status-event.js';
import { signStandardWebhook, standardWebhooksKey } from '../../src/delivery/webhook-client.js';
import { startDownstream, type Downstream } from '../support/webhook-downstream.js';
import WebSocket from 'ws';

const message = { sender_number: '+14155550123', message_body: 'status events' };

let workspace: Workspace;
let downstream: Downstream;
/** demo.default's status callback receiver: refuses the first POST of each `stored` event (500). */
let receiver: Downstream;
const firstTries = new Set<string>();
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
  receiver = await startDownstream((body) => {
    const event = body as unknown as StatusEvent;
    // The first POST of every `stored` event is refused: each of those is retried once.
    if (event.type === 'stored' && !firstTries.has(event.event_id)) {
      firstTries.add(event.event_id);
      return 500;
    }
    return 200;
  });
  workspace = await createWorkspace({
    events: {
      ws_ping_interval_ms: 1000,
      callback_refresh_ms: 200,
      callback_retry_interval_ms: 300,
      callback_timeout_ms: 1000,
    },
    // The refused callbacks below must not open the receiver's breaker.
    delivery: { poll_interval_ms: 50, breaker_failures: 50 },
    domains: [
      {
        name: 'default',
        status_callback: { secret: 'callback-secret', ca_file: receiver.caFile, allowed_hosts: ['127.0.0.1'] },
      },
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
  await receiver?.close();
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
    // B measured how long each event took from its append in Redis to its push: well under 1 s.
    const metrics = await scrapeMetrics(agentOf(demo), b.url);
    expect(metrics.value('mb_events_push_lag_seconds_count')).toBeGreaterThanOrEqual(3);
    expect(metrics.value('mb_events_push_lag_seconds_bucket', { le: '1' })).toBe(
      metrics.value('mb_events_push_lag_seconds_count'),
    );
    // Each event appended was counted, by type, by the broker whose actor appended it.
    await waitUntil(
      async () => {
        const scrapes = await Promise.all([a, b].map((broker) => scrapeMetrics(agentOf(demo), broker.url)));
        const published = (type: string) =>
          scrapes.reduce((sum, m) => sum + m.value('mb_events_published_total', { type }), 0);
        return ['queued', 'stored', 'delivered'].every((type) => published(type) >= 1);
      },
      5000,
      'queued, stored and delivered counted in mb_events_published_total',
    );
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

  it('resumes an id no event has yet (from the future, or a Redis since emptied) from the newest, and says so', async () => {
    const agent = agentOf(demo);
    const future = await subscribe(a, demo, 'last_event_id=99999999999999-0');
    const subscribed = future.controls.find((c) => c.type === 'subscribed') as { last_event_id: string } | undefined;
    expect(subscribed?.last_event_id).toMatch(/^\d+-\d+$/);
    expect(subscribed?.last_event_id).not.toBe('99999999999999-0');
    // Before, every later event sorted before the given id and the socket stayed silent.
    const id = await submit(b, agent);
    await future.waitFor(() => future.of(id).some((e) => e.type === 'delivered'), 5000, 'live after a future id');
    future.close();
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

  it('POSTs each event of a client with a callback URL once per event id, signed, retried after a 500; none of another client', async () => {
    const admin = await HttpsPortalClient.signedInAsFirstAdmin(a.url, agentOf(demo), a.output);
    const set = await admin.json('PUT', '/api/v1/admin/clients/demo/status-callback', {
      domain: 'default',
      url: receiver.url,
    });
    expect(set.statusCode, JSON.stringify(set.body)).toBe(200);
    expect(set.body).toMatchObject({ client: { common_name: 'demo.default', status_callback_url: receiver.url } });
    // A domain without a callback secret cannot have callbacks.
    const refused = await admin.json('PUT', '/api/v1/admin/clients/carol/status-callback', {
      domain: 'hooks',
      url: receiver.url,
    });
    expect(refused.statusCode).toBe(422);
    // A URL that passes a pattern but does not parse is refused, and nothing is stored: once
    // saved, it stopped every broker's delivery actor (new URL() threw in the dispatcher).
    for (const url of ['https://%zz', 'https://user:pw@cb.example/x']) {
      const malformed = await admin.json('PUT', '/api/v1/admin/clients/bob/status-callback', {
        domain: 'default',
        url,
      });
      expect(malformed.statusCode, url).toBe(422);
      expect(malformed.body).toMatchObject({ error_code: 'INVALID_PAYLOAD', details: [{ field: 'url' }] });
    }
    const cliMalformed = await runCli(['client', 'callback', 'bob.default', 'https://%zz'], {
      configPath: workspace.configPath,
    });
    expect(cliMalformed.code).not.toBe(0);
    expect(cliMalformed.stderr).toContain('is not a valid URL');
    // The CLI does the same: refused without a secret, --clear for a client without its own URL.
    const cliRefused = await runCli(['client', 'callback', 'carol.hooks', receiver.url], {
      configPath: workspace.configPath,
    });
    expect(cliRefused.code).not.toBe(0);
    expect(cliRefused.stderr).toContain('status_callback.secret');
    const cliCleared = await runCli(['client', 'callback', 'bob.default', '--clear'], {
      configPath: workspace.configPath,
    });
    expect(cliCleared.code, cliCleared.stderr).toBe(0);
    // Every broker's delivery actor picks the URL up (events.callback_refresh_ms).
    await new Promise((r) => setTimeout(r, 1000));
    const socket = await subscribe(b, demo);
    const demoAgent = agentOf(demo);
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push(await submit(i % 2 === 0 ? a : b, demoAgent));
    const bobMessage = await submit(a, agentOf(bob));
    await socket.waitFor(
      () => ids.every((id) => socket.of(id).some((e) => e.type === 'delivered')),
      10_000,
      'all delivered',
    );
    const expected = socket.events.filter((e) => ids.includes(e.message_id));
    expect(expected).toHaveLength(18);
    // Answered 2xx, per event id: exactly once each (a 500 is retried with the same id).
    const answered = () => {
      const byId = new Map<string, number>();
      for (const hit of receiver.hits.filter((h) => h.status === 200)) {
        const id = (JSON.parse(hit.rawBody) as StatusEvent).event_id;
        byId.set(id, (byId.get(id) ?? 0) + 1);
      }
      return byId;
    };
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline && !expected.every((e) => answered().has(e.event_id)))
      await new Promise((r) => setTimeout(r, 100));
    const counts = answered();
    for (const event of expected) expect(counts.get(event.event_id), event.type).toBe(1);
    // The callback body is the event the WebSocket carried, signed with the domain's secret.
    const hit = receiver.hits.find((h) => (JSON.parse(h.rawBody) as StatusEvent).event_id === expected[0]!.event_id)!;
    expect(JSON.parse(hit.rawBody)).toEqual(expected[0]);
    // Unique among every client's events (a stream id alone repeats across clients' streams).
    const webhookId = `${expected[0]!.client_id}:${expected[0]!.event_id}`;
    expect(hit.headers['webhook-id']).toBe(webhookId);
    const timestamp = Number(hit.headers['webhook-timestamp']);
    expect(hit.headers['webhook-signature']).toBe(
      signStandardWebhook(standardWebhooksKey('callback-secret'), webhookId, timestamp, hit.rawBody),
    );
    expect(receiver.hits.some((h) => h.status === 500)).toBe(true);
    expect(receiver.hits.some((h) => h.rawBody.includes(bobMessage))).toBe(false);
    expect(receiver.hits.some((h) => h.rawBody.includes('4155550123'))).toBe(false);
  });

  it('POSTs a message’s events to its own callback_url, only towards an allowed host', async () => {
    const agent = agentOf(bob);
    const refused = await postJson(agent, a.url, { ...message, callback_url: 'https://example.com/hook' });
    expect(refused.status).toBe(422);
    expect(refused.body).toMatchObject({ error_code: 'INVALID_PAYLOAD', details: [{ field: 'callback_url' }] });
    const batch = await sendJson(agent, 'POST', `${a.url}/api/v1/messages/batch`, {
      messages: [{ ...message, callback_url: 'https://example.com/hook' }, message],
    });
    expect(batch.status).toBe(207);
    expect((batch.body.results as Array<{ status: number }>).map((r) => r.status)).toEqual([422, 202]);

    const own = `${receiver.url}?per-message`;
    const accepted = await postJson(agent, b.url, { ...message, callback_url: own });
    expect(accepted.status).toBe(202);
    const id = accepted.body.message_id as string;
    const without = await submit(a, agent);
    const posted = () => receiver.hits.filter((h) => h.status === 200 && h.rawBody.includes(id));
    const deadline = Date.now() + 15_000;
    // (The receiver refuses each `stored` once: that one comes again after the retry interval.)
    while (Date.now() < deadline && posted().length < 3) await new Promise((r) => setTimeout(r, 100));
    expect(
      posted()
        .map((h) => (JSON.parse(h.rawBody) as StatusEvent).type)
        .sort(),
    ).toEqual(['delivered', 'queued', 'stored']);
    expect(posted().every((h) => h.path === '/inbound?per-message')).toBe(true);
    // bob has no callback URL of its own: its other message is called back nowhere.
    expect(receiver.hits.some((h) => h.rawBody.includes(without))).toBe(false);
  });

  it('live portal: hints a page of changes in its scope only, over a session-cookie socket checked by Origin', async () => {
    const caOnly = agentOf({ ...demo, cert: '', key: '' });
    const root = await HttpsPortalClient.signedInAsFirstAdmin(a.url, caOnly, a.output);
    const password = 'a long passphrase for carl the user';
    const added = await runCli(
      ['user', 'add', 'carl@example.test', '--role', 'user', '--domain', 'default', '--client', 'demo'],
      {
        configPath: workspace.configPath,
        input: `${password}\n`,
      },
    );
    expect(added.code, added.stderr).toBe(0);
    const carl = await HttpsPortalClient.signedIn(b.url, caOnly, 'carl@example.test', password);
    // The pages that update themselves load the script; the script is served.
    expect((await root.get('/portal/messages')).body).toContain('/portal/assets/live.js');
    expect((await root.get('/portal/admin')).body).toContain('/portal/assets/live.js');
    expect((await root.get('/portal/assets/live.js')).statusCode).toBe(200);

    const open = (base: string, cookie: string, origin?: string) =>
      new Promise<{ socket: WebSocket; frames: Array<{ type: string }> }>((resolve, reject) => {
        const socket = new WebSocket(`${base.replace('https', 'wss')}/portal/live`, {
          ca: demo.ca,
          headers: { cookie, ...(origin === undefined ? {} : { origin }) },
        });
        const frames: Array<{ type: string }> = [];
        socket.on('message', (data) => {
          frames.push(JSON.parse(data.toString()) as { type: string });
          if (frames.length === 1) resolve({ socket, frames });
        });
        socket.once('unexpected-response', (_request, response) =>
          reject(Object.assign(new Error(`HTTP ${response.statusCode}`), { status: response.statusCode })),
        );
        socket.once('error', reject);
      });
    await expect(open(a.url, root.cookieHeader, 'https://evil.example')).rejects.toMatchObject({ status: 403 });
    await expect(open(a.url, root.cookieHeader)).rejects.toMatchObject({ status: 403 });
    await expect(open(a.url, '', a.url.replace('https://', 'https://'))).rejects.toMatchObject({ status: 303 });

    const admin = await open(a.url, root.cookieHeader, a.url);
    const user = await open(b.url, carl.cookieHeader, b.url);
    expect(admin.frames[0]).toEqual({ type: 'subscribed' });
    expect(user.frames[0]).toEqual({ type: 'subscribed' });
    const changed = (frames: Array<{ type: string }>) => frames.filter((f) => f.type === 'changed').length;
    try {
      // Another client's message: the superadmin hears of it, the demo user does not.
      await submit(b, agentOf(bob));
      await new Promise((r) => setTimeout(r, 1500));
      expect(changed(admin.frames)).toBeGreaterThan(0);
      expect(changed(user.frames)).toBe(0);
      await submit(a, agentOf(demo));
      const deadline = Date.now() + 3000;
      while (Date.now() < deadline && changed(user.frames) === 0) await new Promise((r) => setTimeout(r, 50));
      expect(changed(user.frames)).toBeGreaterThan(0);
      // Hints only: no message content travels on the portal socket.
      expect(JSON.stringify(user.frames)).not.toMatch(/message_id|4155550123|status events/);

      // A client created after the admin's socket opened is found (within 5 s) and heard from.
      const dora = await issue('dora', 'default');
      const found = () => admin.frames.some((f) => (f as { status?: string }).status === 'clients');
      const lookDeadline = Date.now() + 15_000;
      while (Date.now() < lookDeadline && !found()) await new Promise((r) => setTimeout(r, 100));
      expect(found()).toBe(true);
      const heardBefore = changed(admin.frames);
      await submit(a, agentOf(dora));
      const doraDeadline = Date.now() + 3000;
      while (Date.now() < doraDeadline && changed(admin.frames) === heardBefore)
        await new Promise((r) => setTimeout(r, 50));
      expect(changed(admin.frames)).toBeGreaterThan(heardBefore);
    } finally {
      admin.socket.close();
      user.socket.close();
    }
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
