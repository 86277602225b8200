/**
 * Disabling a client reaches every broker (issue #17, item 3): two supervisors share one
 * Redis and one MariaDB; the client holds kept-alive connections to broker B and is
 * disabled on broker A (its portal) or from `mb client disable`. B must refuse that
 * client's open connections (403 CLIENT_DISABLED, then closed) and its new ones within a
 * second, not after its identity cache (60 s) or the connection's lifetime (1 h) runs out;
 * enabling takes effect on both just as fast.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type DatabaseHandle } from '../../src/db/database.js';
import {
  BrokerProcess,
  createWorkspace,
  demoBundle,
  mtlsAgent,
  waitUntil,
  type Workspace,
} from '../support/broker-harness.js';
import { runCli } from '../support/mb-cli.js';
import { HttpsPortalClient } from '../support/portal-https.js';
import { RawConnection } from '../support/raw-https.js';

const message = { sender_number: '+14155550123', message_body: 'status check' };

let workspace: Workspace;
let a: BrokerProcess;
let b: BrokerProcess;
let database: DatabaseHandle;
let portalAgent: Agent;
let portal: HttpsPortalClient;
let demoId: number;
const open: RawConnection[] = [];

beforeAll(async () => {
  workspace = await createWorkspace({ heartbeat: { interval_ms: 300 } });
  a = new BrokerProcess(workspace, { MB_INSTANCE_ID: 'host-a' });
  await a.start();
  b = new BrokerProcess(workspace, { MB_INSTANCE_ID: 'host-b' });
  await b.start();
  database = openDatabase({ url: workspace.database.url, poolSize: 2 });
  const [[row]] = (await database.pool.query("SELECT id FROM clients WHERE name = 'demo'")) as unknown as [
    [{ id: number }],
  ];
  demoId = row.id;
  portalAgent = mtlsAgent({ ca: readFileSync(join(workspace.dir, 'certs/ca.crt'), 'utf8') });
  // The first admin is printed by the broker that started first.
  portal = await HttpsPortalClient.signedInAsFirstAdmin(a.url, portalAgent, a.output);
});

afterAll(async () => {
  for (const connection of open) connection.close();
  await portalAgent?.close();
  await database?.close();
  await Promise.all([a?.kill('SIGKILL'), b?.kill('SIGKILL')]);
  await workspace?.cleanup();
});

async function connect(broker: BrokerProcess): Promise<RawConnection> {
  const connection = await RawConnection.open(broker.url, demoBundle(workspace));
  open.push(connection);
  return connection;
}

/** A connection that has been served once (its identity resolved and cached by the broker). */
async function servedConnection(broker: BrokerProcess): Promise<RawConnection> {
  const connection = await connect(broker);
  expect((await connection.post(message)).status).toBe(202);
  return connection;
}

/** Posts on a kept-alive connection until it is refused or closed; the time that took (ms). */
async function refusedWithin(connection: RawConnection, since: number, limitMs: number): Promise<number> {
  while (Date.now() - since < limitMs) {
    let answer;
    try {
      answer = await connection.post(message);
    } catch {
      return Date.now() - since; // closed
    }
    if (answer.status === 403) {
      expect(answer.body).toMatchObject({ error_code: 'CLIENT_DISABLED' });
      expect(answer.headers['connection']).toBe('close');
      return Date.now() - since;
    }
    expect(answer.status).toBe(202); // not applied yet
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`still accepted ${limitMs} ms after the change`);
}

async function expectNewConnectionsRefused(): Promise<void> {
  for (const broker of [a, b]) {
    const fresh = await connect(broker);
    const answer = await fresh.post(message);
    expect(answer.status, broker.url).toBe(403);
    expect(answer.body).toMatchObject({ error_code: 'CLIENT_DISABLED' });
  }
}

/** Enabling is announced too: both brokers accept new connections within a second. */
async function expectAcceptedOnBothWithin(since: number, limitMs: number): Promise<void> {
  for (const broker of [a, b]) {
    await waitUntil(
      async () => (await (await connect(broker)).post(message)).status === 202,
      Math.max(limitMs - (Date.now() - since), 100),
      `the client accepted again by ${broker.url}`,
    );
  }
  expect(Date.now() - since).toBeLessThan(limitMs + 500);
}

describe('disabling a client reaches every broker sharing Redis and MySQL', () => {
  it('disabled in the portal of A: B refuses its kept-alive connections within 1 s and closes them, and new ones', async () => {
    const busy = await servedConnection(b);
    const idle = await servedConnection(b);
    const onA = await servedConnection(a);

    const page = await portal.get(`/portal/admin/clients/${demoId}`);
    expect(page.statusCode).toBe(200);
    const disabled = await portal.post(`/portal/admin/clients/${demoId}/disable`, {});
    expect(disabled.statusCode).toBe(303);
    const at = Date.now();

    expect(await refusedWithin(busy, at, 1000)).toBeLessThan(1000);
    await Promise.race([Promise.all([idle.closed, onA.closed]), new Promise((r) => setTimeout(r, 2000))]);
    expect(idle.closedAt, 'the idle connection to B is closed').toBeDefined();
    expect(idle.closedAt! - at).toBeLessThan(1000);
    expect(onA.closedAt, 'the connection to A is closed').toBeDefined();
    await expectNewConnectionsRefused();
  });

  it('enabled with `mb client enable`: both brokers accept it again at once', async () => {
    const result = await runCli(['client', 'enable', 'demo.default', '--config', workspace.configPath], {
      cwd: workspace.dir,
    });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('enabled demo.default');
    await expectAcceptedOnBothWithin(Date.now(), 1000);
  });

  it('disabled with `mb client disable`: both brokers refuse open and new connections within 1 s', async () => {
    const onB = await servedConnection(b);
    const onA = await servedConnection(a);
    const result = await runCli(['client', 'disable', 'demo', '--config', workspace.configPath], {
      cwd: workspace.dir,
    });
    expect(result.code, result.stderr).toBe(0);
    const at = Date.now();
    expect(await refusedWithin(onB, at, 1000)).toBeLessThan(1000);
    expect(await refusedWithin(onA, at, 1000)).toBeLessThan(1000);
    await expectNewConnectionsRefused();
    const [audit] = (await database.pool.query(
      "SELECT actor, action FROM audit_log WHERE action IN ('client.disable', 'client.enable') ORDER BY id",
    )) as unknown as [Array<{ actor: string; action: string }>];
    expect(audit.map((row) => row.action)).toEqual(['client.disable', 'client.enable', 'client.disable']);
    expect(audit[2]!.actor).toMatch(/^cli:/);
  });

  it('enabled in the portal of A: B accepts it again at once', async () => {
    await portal.get(`/portal/admin/clients/${demoId}`);
    const enabled = await portal.post(`/portal/admin/clients/${demoId}/enable`, {});
    expect(enabled.statusCode).toBe(303);
    await expectAcceptedOnBothWithin(Date.now(), 1000);
  });

  it('with Redis unreachable, `mb client disable` still disables the client in MySQL and exits 2', async () => {
    const result = await runCli(['client', 'disable', 'demo.default', '--config', workspace.configPath], {
      cwd: workspace.dir,
      env: { MB_REDIS_URL: 'redis://127.0.0.1:1' },
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('could not be told');
    const [[row]] = (await database.pool.query('SELECT status FROM clients WHERE id = ?', [demoId])) as unknown as [
      [{ status: string }],
    ];
    expect(row.status).toBe('disabled');
    const again = await runCli(['client', 'enable', 'demo.default', '--config', workspace.configPath], {
      cwd: workspace.dir,
    });
    expect(again.code, again.stderr).toBe(0);
    await expectAcceptedOnBothWithin(Date.now(), 1000);
  });
});
