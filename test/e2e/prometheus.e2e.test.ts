/**
 * Prometheus can scrape the broker: who may read /metrics over real mTLS; the shipped
 * scrape config (monitoring/prometheus.yml) driving a real Prometheus that presents the
 * `metrics` identity; the shipped alert rules loaded and healthy (and silent on a healthy
 * broker); and every metric the rules and the dashboard name exported by the broker.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { createCa } from '../../src/pki/ca.js';
import { issueClientCertificate } from '../../src/pki/issue.js';
import {
  BrokerProcess,
  createWorkspace,
  demoBundle,
  mtlsAgent,
  postJson,
  waitUntil,
  type ClientBundle,
  type Workspace,
} from '../support/broker-harness.js';
import { issueRegisteredClient } from '../support/client-certificates.js';
import { Exposition } from '../support/metrics-scrape.js';
import { alertRules, dashboardQueries, MONITORING, PROMETHEUS, promtool } from '../support/monitoring-files.js';
import { metricNamesIn } from '../support/promql-names.js';
import { startDownstream, type Downstream } from '../support/webhook-downstream.js';

/** Made by Prometheus itself, not by the broker. */
const PROMETHEUS_OWN = new Set(['up']);

let downstream: Downstream;
let workspace: Workspace;
let broker: BrokerProcess;
let metricsBundle: ClientBundle;
let dir: string;
let prometheus: ChildProcess | undefined;
let prometheusLog = '';
const agents: Agent[] = [];

beforeAll(async () => {
  downstream = await startDownstream(() => 200);
  workspace = await createWorkspace({
    metrics: { allow_loopback: false, client_names: ['metrics.ops'] },
    domains: [
      { name: 'default' },
      // The scraper's own domain: it takes no messages, so the metrics certificate cannot submit any.
      { name: 'ops', active: false },
      {
        name: 'hooks',
        target: { type: 'webhook', url: downstream.url, secret: 'hook-secret', ca_file: downstream.caFile },
      },
    ],
  });
  broker = new BrokerProcess(workspace);
  await broker.start();
  metricsBundle = await issueRegisteredClient(workspace, 'metrics', 'ops');
  dir = mkdtempSync(join(tmpdir(), 'mb-prometheus-'));
});

afterAll(async () => {
  if (prometheus && prometheus.exitCode === null) {
    const exited = new Promise((resolve) => prometheus!.once('exit', resolve));
    prometheus.kill('SIGTERM');
    await exited;
  }
  for (const agent of agents) await agent.close();
  await broker?.kill('SIGKILL');
  await workspace?.cleanup();
  await downstream?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function agentWith(bundle: Partial<ClientBundle>): Agent {
  const agent = mtlsAgent({ ca: demoBundle(workspace).ca, ...bundle });
  agents.push(agent);
  return agent;
}

async function get(agent: Agent, path = '/metrics'): Promise<{ status: number; text: string }> {
  const response = await request(`${broker.url}${path}`, { dispatcher: agent });
  return { status: response.statusCode, text: await response.body.text() };
}

describe('/metrics over mTLS (loopback not trusted)', () => {
  it('refuses without a certificate, with a foreign one, and with an ordinary client’s, in the error schema', async () => {
    const foreignCa = createCa({ commonName: 'Some Other CA', days: 2 });
    const foreign = issueClientCertificate(foreignCa, { commonName: 'metrics.ops', days: 2 });
    const cases: Array<[Partial<ClientBundle>, number, string]> = [
      [{}, 401, 'UNAUTHORIZED'],
      [{ cert: foreign.certPem, key: foreign.keyPem }, 401, 'CERT_UNTRUSTED'],
      [demoBundle(workspace), 403, 'METRICS_FORBIDDEN'],
    ];
    for (const [bundle, status, code] of cases) {
      const response = await get(agentWith(bundle));
      expect(response.status, code).toBe(status);
      expect(JSON.parse(response.text)).toMatchObject({
        error_code: code,
        tracking_id: expect.any(String),
        timestamp: expect.any(String),
      });
    }
  });

  it('answers the metrics identity, which cannot submit messages', async () => {
    const agent = agentWith(metricsBundle);
    const response = await get(agent);
    expect(response.status).toBe(200);
    expect(response.text).toContain('mb_build_info');
    expect((await postJson(agent, broker.url, { sender_number: '+14155550100', message_body: 'x' })).status).toBe(409);
  });
});

describe('what /metrics exports', () => {
  let exposition: Exposition;

  beforeAll(async () => {
    // A little traffic so request histograms have samples.
    const demo = agentWith(demoBundle(workspace));
    for (let i = 0; i < 3; i++)
      expect(
        (await postJson(demo, broker.url, { sender_number: '+14155550100', message_body: `hello ${i}` })).status,
      ).toBe(202);
    exposition = new Exposition((await get(agentWith(metricsBundle))).text);
  });

  it('every metric each alert rule uses', () => {
    const exported = exposition.names();
    for (const { alert, expr } of alertRules()) {
      const names = metricNamesIn(expr);
      expect(names.length, alert).toBeGreaterThan(0);
      for (const name of names)
        expect(exported.has(name) || PROMETHEUS_OWN.has(name), `${alert} uses ${name}`).toBe(true);
    }
  });

  it('every metric each dashboard query uses', () => {
    const exported = exposition.names();
    for (const { where, expr } of dashboardQueries()) {
      for (const name of metricNamesIn(expr)) expect(exported.has(name), `${where} uses ${name}`).toBe(true);
    }
  });

  it('the names the issue lists, with their labels', () => {
    const labelsOf = (name: string) =>
      new Set(exposition.samples.filter((s) => s.name === name).flatMap((s) => Object.keys(s.labels)));
    expect([...labelsOf('proxy_requests_total')].sort()).toEqual(['endpoint', 'method', 'status']);
    expect(exposition.types.get('proxy_request_duration_seconds')).toBe('histogram');
    expect(labelsOf('proxy_certificate_validations_total')).toEqual(new Set(['result']));
    for (const name of [
      'redis_queue_size',
      'proxy_messages_enqueued_total',
      'proxy_messages_failed_total',
      'mb_circuit_breaker_state',
      'mb_crl_age_seconds',
      'mb_crl_next_update_seconds',
      'mb_client_cert_expiry_seconds',
    ]) {
      expect(exposition.types.has(name), name).toBe(true);
    }
    expect(exposition.value('mb_circuit_breaker_state', { domain: 'hooks' })).toBe(0);
    for (const thread of ['main', 'ingest', 'encryption', 'delivery', 'ca']) {
      expect(
        exposition.samples.some((s) => s.name === 'nodejs_eventloop_lag_p99_seconds' && s.labels.thread === thread),
        thread,
      ).toBe(true);
      expect(
        exposition.samples.some((s) => s.name === 'nodejs_heap_size_used_bytes' && s.labels.thread === thread),
        thread,
      ).toBe(true);
    }
  });

  it('passes promtool check metrics, apart from prom-client’s own nodejs_* names', () => {
    const { output } = promtool(['check', 'metrics'], dir, exposition.text);
    const ours = output.split('\n').filter((line) => line.trim() !== '' && !line.startsWith('nodejs_'));
    expect(ours).toEqual([]);
  });
});

describe('a real Prometheus with monitoring/prometheus.yml', () => {
  it('scrapes the broker with the metrics certificate and loads the alert rules, which stay silent on a healthy broker', async () => {
    const port = await freePort();
    const configPath = renderPrometheusConfig(Number(new URL(broker.url).port));
    const check = promtool(['check', 'config', configPath], dir);
    expect(check.output).toContain('SUCCESS');
    expect(check.status, check.output).toBe(0);

    prometheus = spawn(
      PROMETHEUS,
      [
        `--config.file=${configPath}`,
        `--storage.tsdb.path=${join(dir, 'tsdb')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
      ],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    prometheus.stdout!.on('data', (c: Buffer) => (prometheusLog += c.toString()));
    prometheus.stderr!.on('data', (c: Buffer) => (prometheusLog += c.toString()));
    const api = async (path: string) =>
      JSON.parse(await (await request(`http://127.0.0.1:${port}${path}`)).body.text()) as { data: unknown };

    const target = await waitUntil(
      async () => {
        const { data } = (await api('/api/v1/targets')) as {
          data: { activeTargets: Array<{ health: string; lastError: string }> };
        };
        return data.activeTargets[0]?.health === 'up' ? data.activeTargets[0] : undefined;
      },
      30_000,
      `Prometheus to scrape the broker (log: ${prometheusLog.slice(-500)})`,
    );
    expect(target.lastError).toBe('');
    const { data: query } = (await api('/api/v1/query?query=mb_build_info')) as { data: { result: unknown[] } };
    expect(query.result).toHaveLength(1);

    // Two evaluations after the first scrape: every rule healthy, none pending or firing.
    const groups = await waitUntil(
      async () => {
        const { data } = (await api('/api/v1/rules')) as {
          data: {
            groups: Array<{
              rules: Array<{ name: string; health: string; state: string; lastError?: string; evaluationTime: number }>;
            }>;
          };
        };
        const rules = data.groups.flatMap((g) => g.rules);
        return rules.length > 0 && rules.every((r) => r.health === 'ok') ? rules : undefined;
      },
      30_000,
      'the rules to be evaluated',
    );
    expect(groups.map((r) => r.name).sort()).toEqual(
      alertRules()
        .map((r) => r.alert)
        .sort(),
    );
    await new Promise((r) => setTimeout(r, 2500));
    const { data: alerts } = (await api('/api/v1/alerts')) as {
      data: { alerts: Array<{ labels: { alertname: string } }> };
    };
    expect(alerts.alerts.map((a) => a.labels.alertname)).toEqual([]);
  });
});

/** monitoring/prometheus.yml as shipped, pointed at this broker and this run's certificate files, scraping every second. */
function renderPrometheusConfig(brokerPort: number): string {
  const files = { ca: join(dir, 'ca.crt'), cert: join(dir, 'metrics.crt'), key: join(dir, 'metrics.key') };
  writeFileSync(files.ca, metricsBundle.ca);
  writeFileSync(files.cert, metricsBundle.cert);
  writeFileSync(files.key, metricsBundle.key, { mode: 0o600 });
  const config = parse(readFileSync(join(MONITORING, 'prometheus.yml'), 'utf8')) as {
    global: Record<string, string>;
    rule_files: string[];
    scrape_configs: Array<{
      scrape_timeout: string;
      tls_config: Record<string, string>;
      static_configs: Array<{ targets: string[] }>;
    }>;
  };
  config.global.scrape_interval = '1s';
  config.global.evaluation_interval = '1s';
  config.rule_files = config.rule_files.map((f) => join(MONITORING, f));
  const job = config.scrape_configs[0]!;
  job.scrape_timeout = '1s';
  Object.assign(job.tls_config, { ca_file: files.ca, cert_file: files.cert, key_file: files.key });
  // 127.0.0.1 is one of the server certificate's SANs (server.public_hostnames).
  job.static_configs = [{ targets: [`127.0.0.1:${brokerPort}`] }];
  const path = join(dir, 'prometheus.yml');
  writeFileSync(path, stringify(config));
  return path;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}
