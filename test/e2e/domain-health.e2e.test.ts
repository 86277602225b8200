/**
 * Issue #18 item 7: one tenant's trouble does not degrade the installation. A started
 * broker with two domains, one holding a client certificate that expires in 3 days:
 * health says the installation is `up` and that domain `degraded` with the reason, and
 * `mb_domain_health` says the same. A second broker on the same Redis with another
 * `queue.max_batch` makes the config mismatch, which names the key that differs.
 */
import type { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BrokerProcess,
  createWorkspace,
  getJson,
  mtlsAgent,
  waitUntil,
  type Workspace,
} from '../support/broker-harness.js';
import { scrapeMetrics } from '../support/metrics-scrape.js';
import { runCli } from '../support/mb-cli.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

let workspace: Workspace;
let broker: BrokerProcess;
let other: BrokerProcess | undefined;
let agent: Agent;

interface Health {
  status: string;
  components: Record<string, { status: string; problems?: string[]; instances?: Array<Record<string, unknown>> }>;
  domains?: Record<string, { status: string; reasons: string[] }>;
}

beforeAll(async () => {
  workspace = await createWorkspace({
    domains: [{ name: 'default' }, { name: 'acme' }],
    heartbeat: { interval_ms: 300 },
  });
  broker = new BrokerProcess(workspace, { MB_INSTANCE_ID: 'host-a' });
  await broker.start();
  agent = mtlsAgent({ ca: readFileSync(join(workspace.dir, 'certs/ca.crt'), 'utf8') });
  const issued = await runCli(['client', 'issue', 'alice', '--domain', 'acme', '--days', '3', '--json'], {
    configPath: workspace.configPath,
    cwd: workspace.dir,
  });
  expect(issued.code, issued.stderr).toBe(0);
});

afterAll(async () => {
  await agent?.close();
  await Promise.all([broker?.kill('SIGKILL'), other?.kill('SIGKILL')]);
  await workspace?.cleanup();
});

const health = async () =>
  (await getJson(agent, `${broker.url}/api/v1/health`)) as unknown as { status: number; body: Health };

describe('per-domain health', () => {
  it('keeps the installation up while one domain is degraded, with the reason', async () => {
    const { status, body } = await health();
    expect(status).toBe(200);
    expect(body.status).toBe('up');
    // Listed as before, but no longer the installation's business.
    expect(body.components.client_certificates?.status).toBe('degraded');
    expect(body.domains?.default).toEqual({ status: 'up', reasons: [] });
    expect(body.domains?.acme?.status).toBe('degraded');
    expect(body.domains?.acme?.reasons).toEqual([
      expect.stringMatching(/^client certificate alice\.acme expires in [23] days$/),
    ]);
  });

  it('says the same in mb_domain_health', async () => {
    const metrics = await scrapeMetrics(agent, broker.url);
    expect(metrics.value('mb_domain_health', { domain: 'default' })).toBe(1);
    expect(metrics.value('mb_domain_health', { domain: 'acme' })).toBe(0.5);
    expect(metrics.value('mb_ready')).toBe(1);
  });

  it('names the config key that differs on another instance, and nothing of its value', async () => {
    other = new BrokerProcess(workspace, { MB_INSTANCE_ID: 'host-b', MB_QUEUE_MAX_BATCH: '37' });
    await other.start();
    const body = await waitUntil(
      async () => {
        const { body } = await health();
        return body.components.instances?.status === 'degraded' ? body : undefined;
      },
      20_000,
      'host-a to see host-b',
    );
    expect(body.status).toBe('degraded');
    expect(body.components.instances?.problems).toEqual(['config differs on: host-b (keys: queue.max_batch)']);
    const b = body.components.instances?.instances?.find((i) => i.instance_id === 'host-b');
    expect(b).toMatchObject({ config_matches: false, differing_keys: ['queue.max_batch'] });
    expect(broker.output).toMatch(/"differing_keys":\["queue\.max_batch"\]/);
  });
});
