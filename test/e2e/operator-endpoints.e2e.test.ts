/**
 * Issue #17 against a real broker over real sockets: what a stranger, a tenant's
 * certificate (also one named "metrics") and the metrics identity get from
 * /api/v1/health, /readyz and /metrics when the caller is not a trusted local peer.
 * Tests send traffic to loopback only, so the broker runs with `metrics.allow_loopback:
 * false`: a loopback peer then gets exactly what a remote one would. That loopback *with*
 * the default is trusted is checked with inject in test/health/health-exposure.test.ts.
 */
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BrokerProcess,
  type ClientBundle,
  createWorkspace,
  demoBundle,
  type Workspace,
} from '../support/broker-harness.js';
import { issueRegisteredClient } from '../support/client-certificates.js';

const remote = '127.0.0.1';

let workspace: Workspace;
let broker: BrokerProcess;
let port: string;
const bundles: Record<string, Partial<ClientBundle>> = {};
const agents: Agent[] = [];

/** The certificate names a host name, not this address: the test checks answers, not the server's identity. */
async function get(host: string, path: string, bundle: Partial<ClientBundle> = {}) {
  const agent = new Agent({
    connect: {
      rejectUnauthorized: false,
      ...(bundle.cert ? { cert: bundle.cert } : {}),
      ...(bundle.key ? { key: bundle.key } : {}),
    },
  });
  agents.push(agent);
  const response = await request(`https://${host}:${port}${path}`, { dispatcher: agent });
  return { status: response.statusCode, text: await response.body.text() };
}

describe('operator endpoints for a caller that is not a trusted local peer', () => {
  beforeAll(async () => {
    workspace = await createWorkspace({
      metrics: { client_names: ['metrics.ops'], allow_loopback: false },
      domains: [{ name: 'default' }, { name: 'ops', active: false }],
    });
    broker = new BrokerProcess(workspace);
    await broker.start();
    port = new URL(broker.url).port;
    bundles.demo = demoBundle(workspace);
    bundles.scraper = await issueRegisteredClient(workspace, 'metrics', 'ops');
    // What the issue's attacker did: a client named "metrics" in their own tenant domain.
    bundles.impostor = await issueRegisteredClient(workspace, 'metrics', 'default');
  }, 120_000);

  afterAll(async () => {
    for (const agent of agents) await agent.close();
    await broker?.kill('SIGKILL');
    await workspace?.cleanup();
  });

  it('health: statuses only without operator credentials', async () => {
    for (const who of [{}, bundles.demo!, bundles.impostor!]) {
      const health = await get(remote, '/api/v1/health', who);
      expect(health.status).toBe(200);
      const body = JSON.parse(health.text) as { status: string; components: Record<string, object> };
      expect(Object.keys(body).sort()).toEqual(['components', 'status']);
      for (const component of Object.values(body.components)) expect(Object.keys(component)).toEqual(['status']);
      expect(health.text).not.toContain(workspace.values.instance_id as string);
      expect(health.text).not.toMatch(/"pid"|"host"|"serial"|"common_name"/);
      expect(JSON.parse((await get(remote, '/readyz', who)).text)).toEqual({ ready: true });
    }
  });

  it('health: details for the metrics identity', async () => {
    const body = JSON.parse((await get(remote, '/api/v1/health', bundles.scraper!)).text) as Record<string, unknown>;
    expect(body.instance_id).toBe(workspace.values.instance_id);
    expect(JSON.stringify(body.components)).toContain('"pid"');
    // The scrapers' domain is inactive by design: that is no reason to call it degraded.
    expect(body.domains).toEqual({ default: { status: 'up', reasons: [] }, ops: { status: 'up', reasons: [] } });
  });

  it('/metrics: the metrics identity only, not a tenant client named "metrics"', async () => {
    expect((await get(remote, '/metrics', bundles.scraper!)).status).toBe(200);
    const impostor = await get(remote, '/metrics', bundles.impostor!);
    expect(impostor.status).toBe(403);
    expect(JSON.parse(impostor.text).error_code).toBe('METRICS_FORBIDDEN');
    expect((await get(remote, '/metrics')).status).toBe(401);
  });
});
