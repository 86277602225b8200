/**
 * The CA and encryption actors run on demand (src/actors/on-demand.ts): parked after
 * `actors.idle_stop_ms` without a request, started again by the next one — a call from the
 * main thread (portal, admin API), the delivery actor's (`supervisor.wake`), or the PKI
 * timer's when something is due. Parked is not a fault: health says `up` with state
 * `idle`, the broker stays ready, `mb_actor_up` stays 1 and `mb_actor_idle` says it.
 */
import { X509Certificate } from 'node:crypto';
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
  waitUntil,
  type Workspace,
} from '../support/broker-harness.js';
import { scrapeMetrics } from '../support/metrics-scrape.js';
import { HttpsPortalClient } from '../support/portal-https.js';
import { type Downstream, startDownstream } from '../support/webhook-downstream.js';
import { plantExpiringServerCertificate } from '../support/server-renewal.js';

const DAY = 86_400_000;
const IDLE_MS = 1_000;

let workspace: Workspace;
let broker: BrokerProcess;
let agent: Agent;
let client: Agent;
let admin: HttpsPortalClient;
let downstream: Downstream;
let caPem: string;

beforeAll(async () => {
  downstream = await startDownstream(() => 200);
  workspace = await createWorkspace({
    actors: { idle_stop_ms: IDLE_MS },
    pki: { check_interval_ms: 500 },
    domains: [
      {
        name: 'default',
        targets: {
          archive: { type: 'store' },
          hook: { type: 'webhook', url: downstream.url, secret: 'hook-secret', ca_file: downstream.caFile },
        },
        // UK numbers go to the webhook (the encryption actor opens them for the POST), the rest is stored.
        routes: [
          { name: 'uk', match: { sender_prefix: '+44' }, target: 'hook' },
          { name: 'fallback', target: 'archive' },
        ],
      },
    ],
  });
  broker = new BrokerProcess(workspace);
  await broker.start();
  caPem = readFileSync(join(workspace.dir, 'certs/ca.crt'), 'utf8');
  agent = mtlsAgent({ ca: caPem });
  client = mtlsAgent(demoBundle(workspace));
  admin = await HttpsPortalClient.signedInAsFirstAdmin(broker.url, agent, broker.output);
}, 120_000);

afterAll(async () => {
  await agent?.close();
  await client?.close();
  await broker?.kill('SIGKILL');
  await downstream?.close();
  await workspace?.cleanup();
});

interface ActorComponent {
  status: string;
  state: string;
  restarts: number;
}

async function actorComponent(actor: 'ca' | 'encryption'): Promise<ActorComponent> {
  const health = await getJson(agent, `${broker.url}/api/v1/health`);
  return (health.body as { components: Record<string, ActorComponent> }).components[`actor_${actor}`]!;
}

const caComponent = () => actorComponent('ca');

function parked(actor: 'ca' | 'encryption' = 'ca'): Promise<ActorComponent> {
  return waitUntil(
    async () => {
      const component = await actorComponent(actor);
      return component.state === 'idle' ? component : undefined;
    },
    15_000,
    `the ${actor} actor to be parked`,
  );
}

describe('on-demand actors when idle', () => {
  it('are parked, and the broker stays healthy and ready', async () => {
    expect(await parked('ca')).toEqual({ status: 'up', state: 'idle', restarts: 0 });
    expect(await parked('encryption')).toEqual({ status: 'up', state: 'idle', restarts: 0 });
    const ready = await getJson(agent, `${broker.url}/readyz`);
    expect(ready.status).toBe(200);
    const metrics = await scrapeMetrics(agent, broker.url);
    for (const actor of ['ca', 'encryption']) {
      expect(metrics.value('mb_actor_up', { actor })).toBe(1);
      expect(metrics.value('mb_actor_idle', { actor })).toBe(1);
      expect(metrics.value('mb_metrics_actor_reading_age_seconds', { actor })).toBe(0);
    }
    expect(metrics.value('mb_actor_idle', { actor: 'delivery' })).toBe(0);
    // No thread, so no heap to show; the other threads still have theirs.
    const heapOf = (thread: string) =>
      metrics.samples.filter((s) => s.name === 'nodejs_heap_size_used_bytes' && s.labels.thread === thread);
    expect(heapOf('ca')).toEqual([]);
    expect(heapOf('encryption')).toEqual([]);
    expect(heapOf('delivery')).toHaveLength(1);
  });

  it('stay parked on the store path: a stored message needs neither', async () => {
    await parked('encryption');
    const accepted = await postJson(client, broker.url, {
      sender_number: '+14155550123',
      message_body: 'stored without the encryption actor',
    });
    expect(accepted.status).toBe(202);
    const id = accepted.body.message_id as string;
    await waitUntil(
      async () => {
        const status = await getJson(client, `${broker.url}/api/v1/messages/${id}`);
        return status.body.status === 'delivered' || undefined;
      },
      10_000,
      'the message to be stored',
    );
    expect((await actorComponent('encryption')).state).toBe('idle');
  });
});

describe('the encryption actor on demand', () => {
  it('is started by the delivery actor for a webhook message, which is delivered, then parked again', async () => {
    await parked('encryption');
    const body = 'opened for the webhook by an actor started for it';
    const accepted = await postJson(client, broker.url, {
      sender_number: '+447700900123',
      message_body: body,
    });
    expect(accepted.status).toBe(202);
    const hit = await waitUntil(
      async () => downstream.hits.find((h) => h.body.message_id === accepted.body.message_id),
      15_000,
      'the webhook POST',
    );
    expect(hit.body).toMatchObject({ message_body: body, sender_number: '+447700900123', attempt: 1 });
    await parked('encryption');
  });

  it('is started by the portal to show a message body, then parked again', async () => {
    const body = 'shown in the portal by an actor started for it';
    const accepted = await postJson(client, broker.url, {
      sender_number: '+14155550188',
      message_body: body,
    });
    expect(accepted.status).toBe(202);
    await parked('encryption');
    const page = await waitUntil(
      async () => {
        const shown = await admin.get(`/portal/messages/${accepted.body.message_id as string}`);
        return shown.statusCode === 200 && shown.body.includes(body) ? shown : undefined;
      },
      15_000,
      'the message page with its body',
    );
    expect(page.body).toContain(body);
    await parked('encryption');
  });
});

describe('the CA actor on demand', () => {
  it('stays parked across PKI timer ticks while nothing is due', async () => {
    await parked('ca');
    const until = Date.now() + 2_500; // five ticks of pki.check_interval_ms
    while (Date.now() < until) {
      expect((await caComponent()).state).toBe('idle');
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  });

  it('is started by a call, serves it, and is parked again, the broker ready throughout', async () => {
    await parked();
    // Readiness must not flap while the actor starts for a call (a load balancer would drop the broker).
    const readiness: number[] = [];
    let polling = true;
    const poller = (async () => {
      while (polling) {
        readiness.push((await getJson(agent, `${broker.url}/readyz`)).status);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    const issued = await admin.json('POST', '/api/v1/admin/clients', { name: 'on-demand', domain: 'default' });
    polling = false;
    await poller;
    expect(readiness.length).toBeGreaterThan(3);
    expect(new Set(readiness)).toEqual(new Set([200]));
    expect(issued.statusCode).toBe(201);
    expect(issued.body).toMatchObject({ common_name: 'on-demand.default' });
    expect(new X509Certificate(issued.body.cert_pem as string).checkIssued(new X509Certificate(caPem))).toBe(true);
    expect((await caComponent()).state).toBe('up');
    // The issue is counted across the park: the thread's final numbers stay.
    const again = await parked();
    expect(again.restarts).toBe(0);
    const list = await admin.json('GET', '/api/v1/admin/certificates?domain=default');
    expect(list.statusCode).toBe(200);
    expect((list.body.certificates as Array<{ common_name: string }>).map((c) => c.common_name)).toContain(
      'on-demand.default',
    );
  });

  it('is started by the PKI timer when the server certificate is due, which renews it', async () => {
    await parked();
    const served = await plantExpiringServerCertificate(broker.url, join(workspace.dir, 'certs'), caPem);
    expect(served.checkIssued(new X509Certificate(caPem))).toBe(true);
    expect(Date.parse(served.validTo) - Date.now()).toBeGreaterThan(300 * DAY);
    expect(broker.output).toMatch(
      /"reason":"server certificate: expiring","msg":"starting the CA actor for maintenance"/,
    );
    await parked();
  });
});
