/**
 * Several domains side by side in one broker, each with its own downstream: a hanging
 * downstream harms nobody else, its breaker opens and closes, Retry-After is honoured,
 * dead letters are redriven from the CLI, switches and reloads take effect live.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createConnection } from 'mysql2/promise';
import type { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BrokerProcess,
  SUPERVISOR,
  createWorkspace,
  getJson,
  mtlsAgent,
  postJson,
  waitUntil,
  type Workspace,
} from '../support/broker-harness.js';
import { registerClient } from '../support/clients.js';
import { TestDownstream } from '../support/downstream.js';
import { HttpsPortalClient } from '../support/portal-https.js';

const run = promisify(execFile);
const CLI = SUPERVISOR.replace(/supervisor\.js$/, 'cli.js');

let workspace: Workspace;
let broker: BrokerProcess;
const downstream = {
  alpha: new TestDownstream(),
  beta: new TestDownstream(),
  delta: new TestDownstream(),
  eta: new TestDownstream(),
};
const agents: Record<string, Agent> = {};
const hung: Array<() => void> = [];
let portal: HttpsPortalClient;

function webhook(name: keyof typeof downstream, extra: Record<string, unknown> = {}) {
  return {
    name,
    target: {
      type: 'webhook',
      url: downstream[name].url,
      secret: `${name}-secret`,
      ca_file: downstream[name].caFile,
      timeout_ms: 1500,
    },
    concurrency_share: 8,
    ...extra,
  };
}

beforeAll(async () => {
  for (const d of Object.values(downstream)) await d.start();
  // alpha's downstream hangs: it takes the request and never answers.
  downstream.alpha.behaviour = (_hit, res) => hung.push(() => res.writeHead(200).end());
  workspace = await createWorkspace({
    delivery: { retry_interval_ms: 300, max_attempts: 50, breaker_failures: 3, breaker_open_ms: 5000 },
    domains: [
      { name: 'default' },
      webhook('alpha'),
      webhook('beta'),
      { name: 'gamma', active: false },
      webhook('delta', { max_attempts: 2 }),
      { ...webhook('beta', { rate_per_s: 4 }), name: 'epsilon' },
      webhook('eta', { max_attempts: 1 }),
    ],
  });
  broker = new BrokerProcess(workspace);
  await broker.start();
  for (const [name, domain] of [
    ['a', 'alpha'],
    ['b', 'beta'],
    ['g', 'gamma'],
    ['d', 'delta'],
    ['e', 'epsilon'],
    ['z', 'zeta'],
    ['h', 'eta'],
  ] as const) {
    agents[domain] = mtlsAgent(await registerClient(workspace, name, domain));
  }
  // The portal needs no client certificate: an agent that trusts the broker's CA.
  agents.portal = mtlsAgent({ ca: readFileSync(join(workspace.dir, 'certs/ca.crt'), 'utf8') });
  portal = await HttpsPortalClient.signedInAsFirstAdmin(broker.url, agents.portal, broker.output);
});

/** The downstream line of a domain's card on the portal overview. */
async function overviewDownstream(domain: string): Promise<string> {
  const page = await portal.get('/portal/admin');
  expect(page.statusCode).toBe(200);
  const start = page.body.indexOf(`data-testid="downstream-${domain}"`);
  expect(start).toBeGreaterThan(0);
  return page.body.slice(start, page.body.indexOf('</div>', start));
}

afterAll(async () => {
  for (const release of hung) release();
  for (const agent of Object.values(agents)) await agent.close();
  await broker?.kill('SIGKILL');
  await workspace?.cleanup();
  for (const d of Object.values(downstream)) await d.stop();
});

const submit = async (domain: string, text: string) => {
  const response = await postJson(agents[domain]!, broker.url, { sender_number: '+14155550100', message_body: text });
  return response;
};

async function statusOf(ids: string[]): Promise<Map<string, { status: string; attempt_count: number }>> {
  const connection = await createConnection({ uri: workspace.database.url });
  try {
    const [rows] = (await connection.query(
      'SELECT message_id, status, attempt_count FROM messages WHERE message_id IN (?)',
      [ids],
    )) as unknown as [Array<{ message_id: string; status: string; attempt_count: number }>];
    return new Map(rows.map((r) => [r.message_id, r]));
  } finally {
    await connection.end();
  }
}

async function allDelivered(ids: string[]): Promise<boolean> {
  const rows = await statusOf(ids);
  return ids.every((id) => rows.get(id)?.status === 'delivered');
}

async function downstreamHealth(domain: string): Promise<{ status: string; breaker: { state: string } } | undefined> {
  const health = await getJson(agents.beta!, `${broker.url}/api/v1/health`);
  return (health.body.components as Record<string, { status: string; breaker: { state: string } }>)[
    `downstream_${domain}`
  ];
}

describe('isolation and circuit breaker', () => {
  it('delivers domain beta on time while alpha hangs, opens alpha’s breaker, and drains alpha once it recovers', async () => {
    const alphaIds: string[] = [];
    for (let i = 0; i < 12; i++) alphaIds.push(String((await submit('alpha', `alpha ${i}`)).body.message_id));
    await waitUntil(async () => downstream.alpha.hits.length >= 3 || undefined, 5000, 'alpha to receive attempts');

    const started = Date.now();
    const betaIds: string[] = [];
    for (let i = 0; i < 12; i++) betaIds.push(String((await submit('beta', `beta ${i}`)).body.message_id));
    await waitUntil(() => allDelivered(betaIds), 5000, 'beta to be delivered while alpha hangs');
    expect(Date.now() - started).toBeLessThan(3000);
    expect(await allDelivered(alphaIds)).toBe(false);

    // Three timeouts in a row open alpha's breaker: attempts stop while it is open.
    await waitUntil(
      async () => (await downstreamHealth('alpha'))?.breaker.state === 'open' || undefined,
      10_000,
      'alpha breaker to open',
    );
    expect((await downstreamHealth('alpha'))?.status).toBe('degraded');
    expect((await downstreamHealth('beta'))?.breaker.state).toBe('closed');
    // The portal shows the same: alpha's breaker is not closed (open, or probing by now), beta's is.
    expect(await overviewDownstream('alpha')).toMatch(/breaker (open|half_open)/);
    expect(await overviewDownstream('beta')).toContain('breaker closed');
    // Attempts claimed just before it opened may still start and hang (up to the 1.5 s
    // timeout); after that nothing new reaches alpha until the 5 s are over.
    await new Promise((r) => setTimeout(r, 1700));
    const hitsWhileOpen = downstream.alpha.hits.length;
    await new Promise((r) => setTimeout(r, 1500));
    expect(downstream.alpha.hits.length).toBe(hitsWhileOpen);

    // Recovery: the next probe succeeds, the breaker closes, the backlog drains.
    downstream.alpha.behaviour = (_hit, res) => res.writeHead(200).end();
    await waitUntil(() => allDelivered(alphaIds), 20_000, 'alpha backlog to drain after recovery');
    expect((await downstreamHealth('alpha'))?.breaker.state).toBe('closed');
    expect(await overviewDownstream('alpha')).toContain('breaker closed');
    // Not hammered: far fewer attempts than 12 messages × the retries of the hung period.
    expect(downstream.alpha.hits.length).toBeLessThan(12 * 3 + 12);
  });
});

describe('a half-open breaker with nothing due', () => {
  it('still lets a probe through when a message comes later, and closes on its success', async () => {
    downstream.eta.behaviour = (_hit, res) => res.writeHead(500).end();
    // One attempt each (max_attempts 1): three failures open the breaker, and nothing stays due.
    const doomed: string[] = [];
    for (let i = 0; i < 3; i++) doomed.push(String((await submit('eta', `doomed ${i}`)).body.message_id));
    await waitUntil(
      async () => (await downstreamHealth('eta'))?.breaker.state === 'open' || undefined,
      10_000,
      'eta breaker to open',
    );
    downstream.eta.behaviour = (_hit, res) => res.writeHead(200).end();
    // Past breaker_open_ms (5 s) polls find it half-open with nothing to send. Before, the
    // first such poll marked a probe that was never sent, and the breaker waited for its
    // outcome for good: this message stayed queued until a restart.
    await new Promise((r) => setTimeout(r, 6500));
    const later = String((await submit('eta', 'after the outage')).body.message_id);
    await waitUntil(() => allDelivered([later]), 15_000, 'the later message to be delivered');
    expect((await downstreamHealth('eta'))?.breaker.state).toBe('closed');
  });
});

describe('delivery rate', () => {
  it('paces a domain to its rate_per_s', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) ids.push(String((await submit('epsilon', `paced ${i}`)).body.message_id));
    await waitUntil(() => allDelivered(ids), 15_000, 'the paced messages to be delivered');
    const times = ids.map((id) => downstream.beta.hitsFor(id)[0]!.at).sort((a, b) => a - b);
    // 4 per second with one second of burst: 12 messages take at least ~2 s.
    expect(times.at(-1)! - times[0]!).toBeGreaterThanOrEqual(1700);
  });
});

describe('retry classification', () => {
  it('honours Retry-After and retries 408', async () => {
    let first = true;
    downstream.delta.behaviour = (hit, res) => {
      if (hit.body.message_body === 'later' && first) {
        first = false;
        res.writeHead(429, { 'retry-after': '2' }).end();
      } else if (hit.body.message_body === 'timeout-once' && hit.body.attempt === 1) res.writeHead(408).end();
      else res.writeHead(200).end();
    };
    const later = String((await submit('delta', 'later')).body.message_id);
    const timeout = String((await submit('delta', 'timeout-once')).body.message_id);
    await waitUntil(() => allDelivered([later, timeout]), 10_000, 'both to be delivered');
    const hits = downstream.delta.hitsFor(later);
    const [a, b] = hits;
    expect(
      b!.at - a!.at,
      JSON.stringify(hits.map((h) => ({ at: h.at, attempt: h.body.attempt }))),
    ).toBeGreaterThanOrEqual(1900);
    expect((await statusOf([timeout])).get(timeout)?.attempt_count).toBe(2);
  });
});

describe('dead letters', () => {
  it('redrives a dead-lettered message from the CLI once the downstream is fixed', async () => {
    downstream.delta.behaviour = (_hit, res) => res.writeHead(500).end();
    const id = String((await submit('delta', 'doomed')).body.message_id);
    await waitUntil(
      async () => (await statusOf([id])).get(id)?.status === 'failed' || undefined,
      10_000,
      'the message to fail',
    );

    const listed = await run(
      process.execPath,
      [CLI, '--config', workspace.configPath, 'dead-letter', 'list', '--domain', 'delta', '--json'],
      { cwd: workspace.dir },
    );
    expect(JSON.parse(listed.stdout)).toEqual(
      expect.arrayContaining([expect.objectContaining({ message_id: id, attempts: 2 })]),
    );

    downstream.delta.behaviour = (_hit, res) => res.writeHead(200).end();
    const redriven = await run(
      process.execPath,
      [CLI, '--config', workspace.configPath, 'dead-letter', 'redrive', '--domain', 'delta', '--message', id],
      { cwd: workspace.dir },
    );
    expect(redriven.stdout).toContain('requeued 1 message');
    await waitUntil(() => allDelivered([id]), 10_000, 'the redriven message to be delivered');

    const connection = await createConnection({ uri: workspace.database.url });
    try {
      const [rows] = (await connection.query(
        "SELECT actor, domain FROM audit_log WHERE action = 'dead_letter.redrive'",
      )) as unknown as [Array<{ actor: string; domain: string }>];
      expect(rows).toEqual([{ actor: 'cli', domain: 'delta' }]);
    } finally {
      await connection.end();
    }
  });
});

describe('dead letters in the portal', () => {
  it('redrives every dead letter of a domain with one button, audited', async () => {
    downstream.delta.behaviour = (_hit, res) => res.writeHead(500).end();
    const ids = [
      String((await submit('delta', 'doomed 1')).body.message_id),
      String((await submit('delta', 'doomed 2')).body.message_id),
    ];
    await waitUntil(
      async () => {
        const rows = await statusOf(ids);
        return ids.every((id) => rows.get(id)?.status === 'failed') || undefined;
      },
      15_000,
      'both messages to fail',
    );

    const page = await portal.get('/portal/admin/dead-letters?domain=delta');
    expect(page.body).toContain('data-testid="redrive-all"');
    downstream.delta.behaviour = (_hit, res) => res.writeHead(200).end();
    const redrive = await portal.post('/portal/admin/dead-letters/delta/redrive-all', {});
    expect(redrive.statusCode).toBe(303);
    expect(redrive.location).toBe('/portal/admin/dead-letters?domain=delta&notice=redrive-scheduled');
    await waitUntil(() => allDelivered(ids), 15_000, 'the redriven messages to be delivered');
    expect((await portal.get('/portal/admin/dead-letters?domain=delta')).body).not.toContain(
      'data-testid="redrive-all"',
    );

    const connection = await createConnection({ uri: workspace.database.url });
    try {
      const [rows] = (await connection.query(
        "SELECT actor, details FROM audit_log WHERE action = 'dead_letter.redrive' AND actor <> 'cli'",
      )) as unknown as [Array<{ actor: string; details: unknown }>];
      expect(rows).toHaveLength(1);
      expect(rows[0]!.actor).toMatch(/^user:\d+$/);
      expect(JSON.stringify(rows[0]!.details)).toContain('"requeued":2');
    } finally {
      await connection.end();
    }
  });
});

describe('domain switches', () => {
  it('refuses an inactive domain with 409 and an unknown one with 403', async () => {
    const inactive = await submit('gamma', 'hello');
    expect(inactive.status).toBe(409);
    expect(inactive.body.error_code).toBe('DOMAIN_DISABLED');
    const unknown = await submit('zeta', 'hello');
    expect(unknown.status).toBe(403);
    expect(unknown.body.error_code).toBe('UNKNOWN_DOMAIN');
  });

  it('applies a reload on SIGHUP without losing accepted messages', async () => {
    const before = String((await submit('beta', 'before reload')).body.message_id);
    const domains = (workspace.values.domains as Array<Record<string, unknown>>).map((d) =>
      d.name === 'beta' ? { ...d, active: false } : d,
    );
    workspace.reconfigure({ domains });
    broker.child!.kill('SIGHUP');
    await waitUntil(
      async () => (await submit('beta', 'during')).status === 409 || undefined,
      10_000,
      'beta to be switched off',
    );
    await waitUntil(
      async () => (await submit('alpha', 'others still flow')).status === 202 || undefined,
      5000,
      'alpha still accepted',
    );
    await waitUntil(() => allDelivered([before]), 10_000, 'the message accepted before the reload to be delivered');

    workspace.reconfigure({ domains: domains.map((d) => (d.name === 'beta' ? { ...d, active: true } : d)) });
    broker.child!.kill('SIGHUP');
    // Reloads run one at a time: this one waits until the first has restarted the delivery
    // and CA actors, which takes longer than 10 s on a loaded 2-core box.
    await waitUntil(async () => (await submit('beta', 'back')).status === 202 || undefined, 30_000, 'beta to be back');
  });

  it('applies a reload from the portal, and refuses an invalid file without changing anything', async () => {
    const domains = workspace.values.domains as Array<Record<string, unknown>>;
    workspace.reconfigure({ domains: domains.map((d) => (d.name === 'epsilon' ? { ...d, active: false } : d)) });
    await portal.get('/portal/admin');
    const reloaded = await portal.post('/portal/admin/reload', {});
    expect(reloaded.statusCode).toBe(303);
    expect(reloaded.location).toBe('/portal/admin?notice=config-reloaded');
    expect((await submit('epsilon', 'switched off')).status).toBe(409);

    workspace.reconfigure({ delivery: { retry_interval_ms: -1 } });
    await portal.get('/portal/admin');
    const refused = await portal.post('/portal/admin/reload', {});
    expect(refused.statusCode).toBe(422);
    expect(refused.body).toContain('The reload was refused');
    // SIGHUP takes the same path: refused, logged, the broker runs on.
    broker.child!.kill('SIGHUP');
    await waitUntil(
      async () => broker.output.includes('config reload refused') || undefined,
      10_000,
      'the SIGHUP reload to be refused',
    );
    expect((await submit('alpha', 'still running')).status).toBe(202);

    workspace.reconfigure({ delivery: { retry_interval_ms: 300 }, domains });
    await portal.get('/portal/admin');
    expect((await portal.post('/portal/admin/reload', {})).location).toBe('/portal/admin?notice=config-reloaded');
    expect((await submit('epsilon', 'back on')).status).toBe(202);
    const audit = await portal.get('/portal/admin/audit');
    expect(audit.body).toContain('config.reload_refused');
  });
});
