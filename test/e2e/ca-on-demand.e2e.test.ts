/**
 * The CA actor runs on demand (src/actors/ca/ca.client.ts): parked after
 * `actors.ca_idle_stop_ms` without a call, started again by the next one, and by the PKI
 * timer only when something is due. Parked is not a fault: health says `up` with state
 * `idle`, the broker stays ready, `mb_actor_up` stays 1 and `mb_actor_idle` says it.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect } from 'node:tls';
import { join } from 'node:path';
import type { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CertStore } from '../../src/pki/cert-store.js';
import { issueServerCertificate } from '../../src/pki/issue.js';
import {
  BrokerProcess,
  createWorkspace,
  getJson,
  mtlsAgent,
  waitUntil,
  type Workspace,
} from '../support/broker-harness.js';
import { scrapeMetrics } from '../support/metrics-scrape.js';
import { HttpsPortalClient } from '../support/portal-https.js';

const DAY = 86_400_000;
const IDLE_MS = 1_000;

let workspace: Workspace;
let broker: BrokerProcess;
let agent: Agent;
let admin: HttpsPortalClient;
let caPem: string;

beforeAll(async () => {
  workspace = await createWorkspace({
    actors: { ca_idle_stop_ms: IDLE_MS },
    pki: { check_interval_ms: 500 },
  });
  broker = new BrokerProcess(workspace);
  await broker.start();
  caPem = readFileSync(join(workspace.dir, 'certs/ca.crt'), 'utf8');
  agent = mtlsAgent({ ca: caPem });
  admin = await HttpsPortalClient.signedInAsFirstAdmin(broker.url, agent, broker.output);
});

afterAll(async () => {
  await agent?.close();
  await broker?.kill('SIGKILL');
  await workspace?.cleanup();
});

interface ActorComponent {
  status: string;
  state: string;
  restarts: number;
}

async function caComponent(): Promise<ActorComponent> {
  const health = await getJson(agent, `${broker.url}/api/v1/health`);
  return (health.body as { components: Record<string, ActorComponent> }).components.actor_ca!;
}

function parked(): Promise<ActorComponent> {
  return waitUntil(
    async () => {
      const ca = await caComponent();
      return ca.state === 'idle' ? ca : undefined;
    },
    15_000,
    'the CA actor to be parked',
  );
}

describe('the CA actor on demand', () => {
  it('is parked when idle, and the broker stays healthy and ready', async () => {
    expect(await parked()).toEqual({ status: 'up', state: 'idle', restarts: 0 });
    const ready = await getJson(agent, `${broker.url}/readyz`);
    expect(ready.status).toBe(200);
    const metrics = await scrapeMetrics(agent, broker.url);
    expect(metrics.value('mb_actor_up', { actor: 'ca' })).toBe(1);
    expect(metrics.value('mb_actor_idle', { actor: 'ca' })).toBe(1);
    expect(metrics.value('mb_actor_idle', { actor: 'delivery' })).toBe(0);
    expect(metrics.value('mb_metrics_actor_reading_age_seconds', { actor: 'ca' })).toBe(0);
    // No thread, so no heap to show; the other threads still have theirs.
    const heapOf = (thread: string) =>
      metrics.samples.filter((s) => s.name === 'nodejs_heap_size_used_bytes' && s.labels.thread === thread);
    expect(heapOf('ca')).toEqual([]);
    expect(heapOf('delivery')).toHaveLength(1);
  });

  it('stays parked across PKI timer ticks while nothing is due', async () => {
    await parked();
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
    const original = await servedCertificate(broker.url);
    const store = new CertStore(join(workspace.dir, 'certs'));
    // 5 days left of a 105-day life: due for renewal.
    const planted = issueServerCertificate(store.loadCa(), {
      commonName: 'localhost',
      hostnames: ['localhost', '127.0.0.1', '::1'],
      days: 105,
      notBefore: new Date(Date.now() - 100 * DAY),
      notAfter: new Date(Date.now() + 5 * DAY),
    });
    store.saveServer(planted);
    const served = await waitUntil(
      async () => {
        const cert = await servedCertificate(broker.url);
        return cert.serialNumber !== original.serialNumber && cert.serialNumber.toLowerCase() !== planted.serialHex
          ? cert
          : undefined;
      },
      20_000,
      'a renewed server certificate to be served',
    );
    expect(served.checkIssued(new X509Certificate(caPem))).toBe(true);
    expect(Date.parse(served.validTo) - Date.now()).toBeGreaterThan(300 * DAY);
    expect(broker.output).toMatch(
      /"reason":"server certificate: expiring","msg":"starting the CA actor for maintenance"/,
    );
    await parked();
  });
});

function servedCertificate(url: string): Promise<X509Certificate> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port), ca: caPem, servername: hostname }, () => {
      const cert = new X509Certificate(socket.getPeerX509Certificate()!.raw);
      socket.destroy();
      resolve(cert);
    });
    socket.once('error', reject);
  });
}
