/**
 * The admin API's client disable/enable reaches every broker (issue #17, item 3): two
 * supervisors share one Redis and one MariaDB; the client holds a kept-alive connection to
 * broker B and is disabled through `POST /api/v1/admin/clients/:name/disable` on broker A.
 * B must refuse the next request on that socket within 0.5 s (403 CLIENT_DISABLED), close
 * its idle sockets within a second, and refuse new connections on both; `/enable` lets it in again on both. A domain
 * admin cannot disable another domain's client.
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

const message = { sender_number: '+14155550123', message_body: 'admin api status check' };
const OTHER_ADMIN = { email: 'admin@other.test', password: 'a long passphrase for the other tenant' };

let workspace: Workspace;
let a: BrokerProcess;
let b: BrokerProcess;
let database: DatabaseHandle;
let agent: Agent;
let root: HttpsPortalClient;
const open: RawConnection[] = [];

beforeAll(async () => {
  workspace = await createWorkspace({
    heartbeat: { interval_ms: 300 },
    domains: [{ name: 'default' }, { name: 'other' }],
  });
  a = new BrokerProcess(workspace, { MB_INSTANCE_ID: 'host-a' });
  await a.start();
  b = new BrokerProcess(workspace, { MB_INSTANCE_ID: 'host-b' });
  await b.start();
  database = openDatabase({ url: workspace.database.url, poolSize: 2 });
  agent = mtlsAgent({ ca: readFileSync(join(workspace.dir, 'certs/ca.crt'), 'utf8') });
  root = await HttpsPortalClient.signedInAsFirstAdmin(a.url, agent, a.output);
});

afterAll(async () => {
  for (const connection of open) connection.close();
  await agent?.close();
  await database?.close();
  await Promise.all([a?.kill('SIGKILL'), b?.kill('SIGKILL')]);
  await workspace?.cleanup();
});

/** A connection that has been served once (its identity resolved and cached by the broker). */
async function servedConnection(broker: BrokerProcess): Promise<RawConnection> {
  const connection = await RawConnection.open(broker.url, demoBundle(workspace));
  open.push(connection);
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
      return Date.now() - since;
    }
    expect(answer.status).toBe(202); // not applied yet
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`still accepted ${limitMs} ms after the change`);
}

async function statusOfDemo(): Promise<string> {
  const [[row]] = (await database.pool.query(
    "SELECT status FROM clients WHERE name = 'demo' AND domain = 'default'",
  )) as unknown as [[{ status: string }]];
  return row.status;
}

describe('client disable/enable through the admin API, two brokers', () => {
  it('disabled through A: the open keep-alive socket on B is refused within 0.5 s, and new ones on both', async () => {
    const onB = await servedConnection(b);
    const idleOnB = await servedConnection(b);

    const response = await root.json('POST', '/api/v1/admin/clients/demo/disable', { domain: 'default' });
    const at = Date.now();
    expect(response.statusCode).toBe(200);
    expect(response.body).toEqual({
      client: { name: 'demo', domain: 'default', common_name: 'demo.default', status: 'disabled' },
      announced: true,
    });
    expect(await refusedWithin(onB, at, 500)).toBeLessThan(500);
    // An idle socket is closed after REFUSED_SOCKET_GRACE_MS (500 ms: a request already on
    // the wire gets its 403 rather than a reset), so within a second.
    await Promise.race([idleOnB.closed, new Promise((r) => setTimeout(r, 1500))]);
    expect(idleOnB.closedAt, 'the idle connection to B is closed').toBeDefined();
    expect(idleOnB.closedAt! - at).toBeLessThan(1000);

    for (const broker of [a, b]) {
      const fresh = await RawConnection.open(broker.url, demoBundle(workspace));
      open.push(fresh);
      const answer = await fresh.post(message);
      expect(answer.status, broker.url).toBe(403);
      expect(answer.body).toMatchObject({ error_code: 'CLIENT_DISABLED' });
    }
    const [audit] = (await database.pool.query(
      "SELECT actor, action, domain, ip, details FROM audit_log WHERE action = 'client.disable' ORDER BY id DESC LIMIT 1",
    )) as unknown as [Array<{ actor: string; domain: string; ip: string | null }>];
    expect(audit[0]).toMatchObject({ actor: expect.stringMatching(/^user:\d+$/), domain: 'default' });
    expect(audit[0]!.ip).toBeTruthy();
  });

  it('enabled through A: both brokers accept it again within a second', async () => {
    const response = await root.json('POST', '/api/v1/admin/clients/demo/enable', { domain: 'default' });
    const at = Date.now();
    expect(response.statusCode).toBe(200);
    expect(response.body).toMatchObject({ client: { status: 'active' }, announced: true });
    for (const broker of [a, b]) {
      await waitUntil(
        async () => {
          const connection = await RawConnection.open(broker.url, demoBundle(workspace));
          open.push(connection);
          return (await connection.post(message)).status === 202;
        },
        1000,
        `the client accepted again by ${broker.url}`,
      );
    }
    expect(Date.now() - at).toBeLessThan(1500);
  });

  it("a domain admin cannot disable another domain's client, on either broker", async () => {
    const added = await runCli(
      ['user', 'add', OTHER_ADMIN.email, '--role', 'admin', '--domain', 'other', '--config', workspace.configPath],
      { cwd: workspace.dir, input: `${OTHER_ADMIN.password}\n` },
    );
    expect(added.code, added.stderr).toBe(0);
    const onB = await servedConnection(b);
    for (const broker of [a, b]) {
      const admin = await HttpsPortalClient.signedIn(broker.url, agent, OTHER_ADMIN.email, OTHER_ADMIN.password);
      const named = await admin.json('POST', '/api/v1/admin/clients/demo/disable', { domain: 'default' });
      expect(named.statusCode).toBe(403);
      expect(named.body).toMatchObject({ error_code: 'FORBIDDEN' });
      // By name alone it is looked up in their own domain, where there is no such client.
      const unnamed = await admin.json('POST', '/api/v1/admin/clients/demo/disable', {});
      expect(unnamed.statusCode).toBe(404);
    }
    expect(await statusOfDemo()).toBe('active');
    expect((await onB.post(message)).status).toBe(202);
  });
});
