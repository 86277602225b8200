/**
 * MySQL answers but refuses to store: the broker's database user loses INSERT (a DBA's
 * mistake, a migration) while its pooled connections stay open. Accepting goes on (Redis
 * holds the messages); `/api/v1/health` says storing fails and why, while MySQL itself
 * answers its ping; and once the grant is given back the connections the pool holds see it
 * (within `refreshPrivileges`' interval) and the backlog is stored — no restart.
 */
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
import { DatabaseUser } from '../support/database-user.js';

type Health = { status: string; components: Record<string, { status: string; [k: string]: unknown }> };

let workspace: Workspace;
let broker: BrokerProcess;
let agent: Agent;
let user: DatabaseUser;

beforeAll(async () => {
  workspace = await createWorkspace({});
  user = await DatabaseUser.create(workspace.database.url, workspace.database.name);
  writeFileSync(
    workspace.configPath,
    readFileSync(workspace.configPath, 'utf8').replace(workspace.database.url, user.url),
  );
  broker = new BrokerProcess(workspace);
  await broker.start();
  agent = mtlsAgent(demoBundle(workspace));
}, 120_000);

afterAll(async () => {
  await agent?.close();
  await broker?.kill('SIGTERM');
  await workspace?.cleanup();
  await user?.drop();
});

const submit = async (body: string) =>
  (await postJson(agent, broker.url, { sender_number: '+14155550123', message_body: body })).status;
const health = async () => (await getJson(agent, `${broker.url}/api/v1/health`)).body as unknown as Health;
const storedCount = () => user.count('messages');

describe('MySQL refusing INSERT while it answers', () => {
  it('keeps accepting, says in health that storing fails and why, and stores the backlog once the grant is back', async () => {
    expect(await submit('before')).toBe(202);
    await waitUntil(async () => (await storedCount()) === 1, 10_000, 'the first message stored');
    expect((await health()).components.store).toEqual({ status: 'up' });

    await user.takeInsertAway();

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
      // The grant it lacks, for the DBA: command, user and table.
      error: expect.stringMatching(
        /^database error ER_TABLEACCESS_DENIED_ERROR: INSERT command denied to user '[^']+'@'[^']+' for table `[^`]+`\.`messages`$/,
      ),
      failing_since: expect.any(String),
    });
    expect(await storedCount()).toBe(1);
    // Retried meanwhile (every 5 s at most): the log said it once, not at each retry.
    await waitUntil(
      async () => Number((await health()).components.store?.batches_failed) >= 4 || undefined,
      20_000,
      'several retries of the batch',
    );
    const failed = (text: string) =>
      text.split('\n').filter((l) => l.includes('"store batch failed; entries stay pending"'));
    expect(failed(broker.output)).toHaveLength(1);

    await user.giveInsertBack();
    await waitUntil(async () => (await storedCount()) === 6, 40_000, 'the backlog stored once INSERT is granted again');
    await waitUntil(
      async () => (await health()).components.store?.status === 'up',
      10_000,
      'health to say storing works again',
    );
    // The log says it is over, as it said it began.
    expect(broker.output).toContain('storing works again; the entries left pending are stored');
  }, 120_000);
});
