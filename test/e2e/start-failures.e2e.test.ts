/**
 * An operator's mistakes at start end the start: the broker exits 1 with one line on stderr
 * that names the problem, instead of running without listening. A key file the encryption
 * actor cannot open (one of the pair lost here; corrupt, or unreadable by the broker's user,
 * behaves the same) is not retried for ever.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
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
});
