/**
 * MySQL answers but refuses to store: the broker's database user loses INSERT (a DBA's
 * mistake, a migration) while its pooled connections stay open. Accepting goes on (Redis
 * holds the messages); `/api/v1/health` says storing fails and why, while MySQL itself
 * answers its ping; and once the grant is given back the connections the pool holds see it
 * (within `refreshPrivileges`' interval) and the backlog is stored — no restart.
 */
import { createConnection } from 'mysql2/promise';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
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

type Health = { status: string; components: Record<string, { status: string; [k: string]: unknown }> };

let workspace: Workspace;
let broker: BrokerProcess;
let agent: Agent;
let root: Awaited<ReturnType<typeof createConnection>>;
const user = `mbr_${randomBytes(4).toString('hex')}`;
let on: string;

beforeAll(async () => {
  workspace = await createWorkspace({});
  on = `\`${workspace.database.name}\`.*`;
  root = await createConnection({ uri: new URL('/', workspace.database.url).toString() });
  await root.query(`CREATE USER '${user}'@'%' IDENTIFIED BY 'pw'`);
  await root.query(`GRANT ALL ON ${on} TO '${user}'@'%'`);
  const asUser = Object.assign(new URL(workspace.database.url), { username: user, password: 'pw' }).toString();
  writeFileSync(
    workspace.configPath,
    readFileSync(workspace.configPath, 'utf8').replace(workspace.database.url, asUser),
  );
  broker = new BrokerProcess(workspace);
  await broker.start();
  agent = mtlsAgent(demoBundle(workspace));
}, 120_000);

afterAll(async () => {
  await agent?.close();
  await broker?.kill('SIGTERM');
  await workspace?.cleanup();
  await root?.query(`DROP USER IF EXISTS '${user}'@'%'`);
  await root?.end();
});

const submit = async (body: string) =>
  (await postJson(agent, broker.url, { sender_number: '+14155550123', message_body: body })).status;
const health = async () => (await getJson(agent, `${broker.url}/api/v1/health`)).body as unknown as Health;
const storedCount = async () => {
  const [rows] = (await root.query(`SELECT COUNT(*) AS n FROM \`${workspace.database.name}\`.messages`)) as [
    Array<{ n: number }>,
    unknown,
  ];
  return Number(rows[0]!.n);
};

describe('MySQL refusing INSERT while it answers', () => {
  it('keeps accepting, says in health that storing fails and why, and stores the backlog once the grant is back', async () => {
    expect(await submit('before')).toBe(202);
    await waitUntil(async () => (await storedCount()) === 1, 10_000, 'the first message stored');
    expect((await health()).components.store).toEqual({ status: 'up' });

    await root.query(`REVOKE ALL ON ${on} FROM '${user}'@'%'`);
    await root.query(`GRANT SELECT, UPDATE, DELETE ON ${on} TO '${user}'@'%'`);
    const [open] = (await root.query('SELECT id FROM information_schema.processlist WHERE user = ?', [user])) as [
      Array<{ id: number }>,
      unknown,
    ];
    for (const { id } of open) await root.query(`KILL ${id}`);

    for (let i = 0; i < 5; i++) expect(await submit(`during ${i}`)).toBe(202);
    const degraded = await waitUntil(
      async () => {
        const body = await health();
        return body.components.store?.status === 'degraded' ? body : undefined;
      },
      20_000,
      'health to say storing fails',
    );
    expect(degraded.status).toBe('degraded');
    expect(degraded.components.mysql!.status).toBe('up');
    expect(degraded.components.store).toMatchObject({
      error: 'database error ER_TABLEACCESS_DENIED_ERROR',
      failing_since: expect.any(String),
    });
    expect(await storedCount()).toBe(1);

    await root.query(`GRANT INSERT ON ${on} TO '${user}'@'%'`);
    await waitUntil(async () => (await storedCount()) === 6, 40_000, 'the backlog stored once INSERT is granted again');
    await waitUntil(
      async () => (await health()).components.store?.status === 'up',
      10_000,
      'health to say storing works again',
    );
  }, 120_000);
});
