/**
 * A first start that fails — the port in use, a data.dir the password file cannot go into —
 * makes no portal account: the start after the fix creates the first admin and hands its
 * password over. Before, the account was made first and its password never shown, and no
 * later start made another.
 */
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrokerProcess, createWorkspace, firstAdminCredentials, type Workspace } from '../support/broker-harness.js';

let workspace: Workspace;
let broker: BrokerProcess;
let squatter: Server;

beforeAll(async () => {
  workspace = await createWorkspace();
  squatter = createServer();
  await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
  broker = new BrokerProcess(workspace);
}, 60_000);
afterAll(async () => {
  squatter?.close();
  await broker?.kill('SIGTERM');
  await workspace?.cleanup();
});

describe('first admin after a failed first start', () => {
  it('is handed over by the start that succeeds', async () => {
    const taken = (squatter.address() as { port: number }).port;
    workspace.reconfigure({ server: { port: taken } });
    await expect(broker.start()).rejects.toThrow(/port is in use/);

    const notADirectory = join(workspace.dir, 'not-a-directory');
    writeFileSync(notADirectory, '');
    workspace.reconfigure({ server: { port: 0 }, data: { dir: join(notADirectory, 'data') } });
    await expect(broker.start()).rejects.toThrow(/first admin's password file into data\.dir .*not-a-directory/);

    workspace.reconfigure({ data: { dir: join(workspace.dir, 'data') } });
    await broker.start();
    expect(firstAdminCredentials(broker.output)).toMatchObject({ email: 'admin@localhost' });
  }, 240_000);
});
