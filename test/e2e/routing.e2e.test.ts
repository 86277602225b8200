/**
 * Routing end to end, on a started broker: a domain with three routes (a header, a sender
 * prefix, a default) over a `store` target and two webhook targets, each webhook its own
 * HTTPS downstream. Every message lands where the README says, the status lookup names
 * its route and target, each target keeps its own retry policy and dead letters, metrics
 * carry the target, a domain with no default route answers 422 NO_ROUTE, storing nothing,
 * and a reload changes routing for new messages only.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { createConnection } from 'mysql2/promise';
import type { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BrokerProcess,
  createWorkspace,
  getJson,
  mtlsAgent,
  postJson,
  sendJson,
  waitUntil,
  type ApiResponse,
  type Workspace,
} from '../support/broker-harness.js';
import { registerClient } from '../support/clients.js';
import { runCli } from '../support/mb-cli.js';
import { TestDownstream } from '../support/downstream.js';
import { scrapeMetrics } from '../support/metrics-scrape.js';
import { HttpsPortalClient } from '../support/portal-https.js';

let workspace: Workspace;
let broker: BrokerProcess;
const eu = new TestDownstream();
const us = new TestDownstream();
const agents: Record<string, Agent> = {};

const webhook = (downstream: TestDownstream, secret: string) => ({
  type: 'webhook',
  url: downstream.url,
  secret,
  ca_file: downstream.caFile,
  timeout_ms: 2000,
});

beforeAll(async () => {
  await eu.start();
  await us.start();
  // eu answers one message 500 (retryable) every time: its own max_attempts (2) then fails it.
  eu.behaviour = (hit, res) => res.writeHead(hit.body.message_body === 'eu refuses this' ? 500 : 200).end();
  workspace = await createWorkspace({
    delivery: { retry_interval_ms: 200, max_attempts: 10 },
    domains: domains('us'),
  });
  broker = new BrokerProcess(workspace);
  await broker.start();
  agents.routed = mtlsAgent(await registerClient(workspace, 'gw', 'routed'));
  agents.strict = mtlsAgent(await registerClient(workspace, 'gw', 'strict'));
  agents.loopback = mtlsAgent({ ca: readFileSync(join(workspace.dir, 'certs/ca.crt'), 'utf8') });
});

/** The routes of `routed`; `regionTarget`: where X-Region: us goes. */
function routedRoutes(regionTarget: string) {
  return [
    { name: 'region-us', match: { header: { name: 'X-Region', values: ['us'] } }, target: regionTarget },
    { name: 'uk', match: { sender_prefix: '+44' }, target: 'eu' },
    { name: 'fallback', target: 'archive' },
  ];
}

function domains(regionTarget: string) {
  return [
    { name: 'default' },
    {
      name: 'routed',
      targets: {
        archive: { type: 'store' },
        eu: { ...webhook(eu, 'eu-secret'), max_attempts: 2 },
        us: webhook(us, 'us-secret'),
      },
      routes: routedRoutes(regionTarget),
    },
    {
      name: 'strict',
      targets: { eu: webhook(eu, 'eu-secret') },
      routes: [{ name: 'uk-only', match: { sender_prefix: '+44' }, target: 'eu' }],
    },
  ];
}

afterAll(async () => {
  for (const agent of Object.values(agents)) await agent.close();
  await broker?.kill('SIGKILL');
  await workspace?.cleanup();
  await eu.stop();
  await us.stop();
});

const submit = (domain: string, sender: string, body: string, headers: Record<string, string> = {}) =>
  postJson(agents[domain]!, broker.url, { sender_number: sender, message_body: body }, headers);

const lookup = (domain: string, id: string) => getJson(agents[domain]!, `${broker.url}/api/v1/messages/${id}`);

/** The status lookup once the message is settled (delivered or failed). */
const settled = (domain: string, id: string) =>
  waitUntil(
    async () => {
      const response = await lookup(domain, id);
      return response.body.status !== 'queued' ? response : undefined;
    },
    20_000,
    `message ${id} to settle`,
  );

async function rowsOf(domain: string): Promise<Array<{ message_id: string; target: string; route: string | null }>> {
  const connection = await createConnection({ uri: workspace.database.url });
  try {
    const [rows] = await connection.query('SELECT message_id, target, route FROM messages WHERE domain = ?', [domain]);
    return rows as Array<{ message_id: string; target: string; route: string | null }>;
  } finally {
    await connection.end();
  }
}

const idOf = (response: ApiResponse) => {
  expect(response.status).toBe(202);
  return response.body.message_id as string;
};

const ids: Record<string, string> = {};

describe('routing over a store target and two webhook targets', () => {
  beforeAll(async () => {
    // The header route comes first: a +44 number with X-Region: us goes to us.
    ids.header = idOf(await submit('routed', '+447700900001', 'by header', { 'X-Region': 'us' }));
    ids.prefix = idOf(await submit('routed', '+447700900002', 'by prefix'));
    // A header value outside the allow-list is no match: the number decides.
    ids.offList = idOf(await submit('routed', '+14155550100', 'header off the list', { 'X-Region': 'mars' }));
    ids.fallback = idOf(await submit('routed', '+14155550101', 'by default'));
    ids.refused = idOf(await submit('routed', '+447700900003', 'eu refuses this'));
  });

  it('delivers each message to the target its route names, and the status lookup says which', async () => {
    const expected = {
      header: { route: 'region-us', target: 'us', status: 'delivered' },
      prefix: { route: 'uk', target: 'eu', status: 'delivered' },
      offList: { route: 'fallback', target: 'archive', status: 'delivered' },
      fallback: { route: 'fallback', target: 'archive', status: 'delivered' },
    };
    for (const [key, want] of Object.entries(expected)) {
      const response = await settled('routed', ids[key]!);
      expect(response.status).toBe(200);
      expect(response.body, key).toMatchObject(want);
    }
    expect(us.hits.map((h) => h.body.message_id)).toEqual([ids.header]);
    // The payload names them too (an AMQP routing key, a downstream's own dispatch).
    expect(us.hits[0]!.body).toMatchObject({ domain: 'routed', target: 'us', route: 'region-us' });
    expect(eu.hitsFor(ids.prefix!)).toHaveLength(1);
    expect(eu.hitsFor(ids.header!)).toHaveLength(0);
    // Each webhook target signs with its own secret (the store target posts nothing).
    expect(us.hits[0]!.headers['x-mb-signature']).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    for (const key of ['offList', 'fallback']) {
      expect(us.hitsFor(ids[key]!)).toHaveLength(0);
      expect(eu.hitsFor(ids[key]!)).toHaveLength(0);
    }
    const rows = new Map((await rowsOf('routed')).map((r) => [r.message_id, r]));
    expect(rows.get(ids.prefix!)).toMatchObject({ target: 'eu', route: 'uk' });
    expect(rows.get(ids.fallback!)).toMatchObject({ target: 'archive', route: 'fallback' });
  });

  it("keeps each target's own retry policy and dead letters", async () => {
    const response = await settled('routed', ids.refused!);
    // eu's max_attempts (2), not the domain's 10.
    expect(response.body).toMatchObject({ status: 'failed', attempt_count: 2, target: 'eu', route: 'uk' });
    expect(eu.hitsFor(ids.refused!)).toHaveLength(2);
    const redis = new Redis(workspace.redisUrl);
    try {
      const own = await redis.xrange(`${workspace.prefix}routed:target:eu:dead`, '-', '+');
      expect(own.map(([, fields]) => fields[1])).toEqual([ids.refused]);
      // The domain's default keys (the target named `default`, which this domain has not) stay empty.
      expect(await redis.xlen(`${workspace.prefix}routed:dead`)).toBe(0);
    } finally {
      redis.disconnect();
    }
    // The portal lists dead letters per webhook target of a domain that routes (the default
    // target first when it is a webhook; here it is the store target, so eu, the first webhook).
    const portal = await HttpsPortalClient.signedInAsFirstAdmin(broker.url, agents.loopback!, broker.output);
    const first = await portal.get('/portal/admin/dead-letters?domain=routed');
    expect(first.statusCode).toBe(200);
    expect(first.body).toContain('data-testid="dead-letter-targets"');
    expect(first.body).toContain(ids.refused!.slice(0, 8));
    expect(first.body).toContain('/admin/dead-letters/routed/redrive-all?target=eu');
    const other = await portal.get('/portal/admin/dead-letters?domain=routed&target=us');
    expect(other.statusCode).toBe(200);
    expect(other.body).not.toContain(ids.refused!.slice(0, 8));
    // The CLI without --target reads every delivering target of a routed domain: its
    // default target (the store archive) never has any, and it said "no dead letters".
    const listed = await runCli(['dead-letter', 'list', '--domain', 'routed'], { configPath: workspace.configPath });
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toContain(`${ids.refused}  target=eu  attempts=2`);
  });

  it('labels delivery metrics with the target', async () => {
    // From loopback, without a client certificate (metrics.allow_loopback).
    const metrics = await scrapeMetrics(agents.loopback!, broker.url);
    const attempts = (target: string, outcome: string) =>
      metrics.value('mb_delivery_attempts_total', { domain: 'routed', target, outcome });
    expect(attempts('us', 'delivered')).toBe(1);
    expect(attempts('eu', 'delivered')).toBe(1);
    expect(attempts('eu', 'dead')).toBe(1);
    expect(metrics.value('mb_circuit_breaker_state', { domain: 'routed', target: 'us' })).toBe(0);
    expect(metrics.value('mb_delivery_slots_guaranteed', { domain: 'routed', target: 'eu' })).toBeGreaterThan(0);
  });
});

describe('a domain without a default route', () => {
  it('refuses a message no route takes with 422 NO_ROUTE, and stores nothing', async () => {
    const refused = await submit('strict', '+14155550100', 'nowhere to go');
    expect(refused.status).toBe(422);
    expect(refused.body).toMatchObject({ error_code: 'NO_ROUTE' });
    expect(refused.body.tracking_id).toEqual(expect.any(String));

    // In a batch, the item no route takes is refused on its own; the other is queued.
    const batch = await sendJson(agents.strict!, 'POST', `${broker.url}/api/v1/messages/batch`, {
      messages: [
        { sender_number: '+14155550100', message_body: 'no route' },
        { sender_number: '+447700900009', message_body: 'to eu' },
      ],
    });
    expect(batch.status).toBe(207);
    const [first, second] = batch.body.results as Array<Record<string, unknown>>;
    expect(first).toMatchObject({ index: 0, status: 422, error: { error_code: 'NO_ROUTE' } });
    expect(second).toMatchObject({ index: 1, status: 202 });
    const routed = await settled('strict', second!.message_id as string);
    expect(routed.body).toMatchObject({ status: 'delivered', target: 'eu', route: 'uk-only' });
    // Only the routed message was ever stored.
    expect((await rowsOf('strict')).map((r) => r.message_id)).toEqual([second!.message_id]);
  });
});

describe('a config reload', () => {
  it('changes routing for new messages only', async () => {
    const from = broker.output.length;
    workspace.reconfigure({ domains: domains('eu') });
    broker.child!.kill('SIGHUP');
    await waitUntil(
      async () => broker.output.slice(from).includes('"msg":"config reloaded"') || undefined,
      30_000,
      'the reload to finish',
    );
    const after = idOf(await submit('routed', '+14155550102', 'after the reload', { 'X-Region': 'us' }));
    expect((await settled('routed', after)).body).toMatchObject({
      status: 'delivered',
      route: 'region-us',
      target: 'eu',
    });
    expect(eu.hitsFor(after)).toHaveLength(1);
    expect(us.hitsFor(after)).toHaveLength(0);
    // The message routed before keeps the target it was given.
    expect((await lookup('routed', ids.header!)).body).toMatchObject({ route: 'region-us', target: 'us' });
  });
});
