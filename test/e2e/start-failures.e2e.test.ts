/**
 * An operator's mistakes at start end the start: the broker exits 1 with one line on stderr
 * that names the problem, instead of running without listening. A key file the encryption
 * actor cannot open (one of the pair lost here; corrupt, or unreadable by the broker's user,
 * behaves the same) is not retried for ever; a port another program holds is named with the
 * setting that moves it.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BrokerProcess, createWorkspace, type Workspace } from '../support/broker-harness.js';

let workspace: Workspace | undefined;
let broker: BrokerProcess | undefined;

afterEach(async () => {
  await broker?.kill();
  await workspace?.cleanup();
  broker = undefined;
  workspace = undefined;
});

describe('a broker that cannot start', () => {
  it('exits 1 naming a key file its encryption actor cannot open, instead of restarting the actor for ever', async () => {
    workspace = await createWorkspace();
    const secrets = join(workspace.dir, 'data/secrets');
    mkdirSync(secrets, { recursive: true, mode: 0o700 });
    writeFileSync(join(secrets, 'data-keys.json'), '{"active":', { mode: 0o600 });
    broker = new BrokerProcess(workspace);
    const started = Date.now();
    await expect(broker.start(30_000)).rejects.toThrow(/exited with 1 before listening/);
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(broker.output).toMatch(
      /broker failed to start: the encryption actor could not start \(5 attempts\): \S+ holds data-keys\.json but not pepper\.json/,
    );
  }, 60_000);

  it('exits 1 naming a pki.dir it cannot create and why (ENOTDIR), not only that it could not', async () => {
    workspace = await createWorkspace();
    const file = join(workspace.dir, 'not-a-directory');
    writeFileSync(file, '');
    workspace.reconfigure({ pki: { dir: join(file, 'certs') } });
    broker = new BrokerProcess(workspace);
    await expect(broker.start(30_000)).rejects.toThrow(/exited with 1 before listening/);
    // Before: "Could not create …/certs" and the reason only inside the JSON log line.
    expect(broker.output).toContain(`broker failed to start: Could not create ${join(file, 'certs')} (ENOTDIR)`);
  }, 60_000);

  it('exits 1 naming the port in use and the setting to change, not Node’s EADDRINUSE', async () => {
    const holder: Server = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const port = (holder.address() as AddressInfo).port;
    try {
      workspace = await createWorkspace({ server: { port } });
      broker = new BrokerProcess(workspace);
      await expect(broker.start(60_000)).rejects.toThrow(/exited with 1 before listening/);
      expect(broker.output).toContain(
        `broker failed to start: cannot listen on 127.0.0.1:${port}: the port is in use (another broker, or another program): stop it, or set server.port (MB_SERVER_PORT) to a free port`,
      );
    } finally {
      holder.close();
    }
  }, 90_000);
});
