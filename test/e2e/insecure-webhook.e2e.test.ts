/**
 * A webhook carries the decrypted body and sender number, so an http:// target is refused
 * at start unless its domain sets `target.allow_insecure_http: true`; one that does is
 * delivered to, and stays visible: a log warning and a degraded health component, which
 * `mb selftest` reports as a WARN, not a failure.
 */
import { createServer, type Server } from 'node:http';
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
import { runCli } from '../support/mb-cli.js';

let downstream: Server;
let downstreamUrl: string;
const received: Array<{ message_id: string }> = [];
let workspace: Workspace;
let broker: BrokerProcess | undefined;
let agent: Agent | undefined;

const domainsWith = (target: Record<string, unknown>) => [
  { name: 'plain', target: { type: 'webhook', url: downstreamUrl, secret: 'plain-secret', ...target } },
];

beforeAll(async () => {
  downstream = createServer((req, res) => {
    let raw = '';
    req.on('data', (chunk: Buffer) => (raw += chunk.toString()));
    req.on('end', () => {
      received.push(JSON.parse(raw) as { message_id: string });
      res.writeHead(200).end('{}');
    });
  });
  await new Promise<void>((resolve) => downstream.listen(0, '127.0.0.1', resolve));
  const address = downstream.address();
  downstreamUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/in`;
  workspace = await createWorkspace({ domains: domainsWith({}), bootstrap: { demo_domain: 'plain' } });
});

afterAll(async () => {
  await agent?.close();
  await broker?.kill('SIGTERM');
  await workspace?.cleanup();
  await new Promise<void>((resolve) => downstream.close(() => resolve()));
});

describe('webhook target over plain http', () => {
  it('stops the start with exit 78, naming the key and the fix', async () => {
    const refused = new BrokerProcess(workspace);
    await expect(refused.start(30_000)).rejects.toThrow(/broker exited with 78/);
    expect(refused.output).toContain('domains[0].target.url is http://');
    expect(refused.output).toContain('use https://, or set domains[0].target.allow_insecure_http: true');
  });

  it('with allow_insecure_http: delivers, warns in the log and shows the domain degraded in health', async () => {
    workspace.reconfigure({ domains: domainsWith({ allow_insecure_http: true }) });
    broker = new BrokerProcess(workspace);
    await broker.start();
    expect(broker.output).toMatch(/"level":40[^\n]*"domains":\["plain"\][^\n]*delivery targets over plain http/);

    agent = mtlsAgent(demoBundle(workspace, 'demo.plain'));
    const accepted = await postJson(agent, broker.url, { sender_number: '+14155550123', message_body: 'in clear' });
    expect(accepted.status).toBe(202);
    await waitUntil(
      async () => received.some((r) => r.message_id === accepted.body.message_id),
      30_000,
      'delivery over http',
    );

    const health = await getJson(agent, `${broker.url}/api/v1/health`);
    const components = health.body.components as Record<string, Record<string, unknown>>;
    expect(components.webhook_transport).toMatchObject({ status: 'degraded', insecure_http: ['plain'] });
    // One tenant's plain-http target is that domain's state, not the installation's (issue #18).
    expect(health.body.status).toBe('up');
    expect((health.body.domains as Record<string, { status: string; reasons: string[] }>).plain).toEqual({
      status: 'degraded',
      reasons: ['webhook target over plain http (allow_insecure_http): bodies travel in clear'],
    });
  });

  it('mb selftest passes with a WARN naming the degraded domain and its reason, and exits 0', async () => {
    const run = await runCli(['selftest', '--url', broker!.url, '--config', workspace.configPath], {
      cwd: workspace.dir,
    });
    expect(run.stdout).toMatch(/WARN {2}health +status up; domains degraded: plain \(webhook target over plain http/);
    expect(run.stdout).toContain('8 checks: 7 passed, 1 warned, 0 failed');
    expect(run.code, run.stdout + run.stderr).toBe(0);
  });
});
