/**
 * A SIGHUP sent the moment the broker says it listens (a deploy tool reloading right after
 * a start, a test) arrives while the start is still finishing: it is kept and applied once
 * the broker has started, never met by Node's default for SIGHUP — ending the process.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrokerProcess, createWorkspace, waitUntil, type Workspace } from '../support/broker-harness.js';

let workspace: Workspace;
let broker: BrokerProcess;

beforeAll(async () => {
  workspace = await createWorkspace({});
  broker = new BrokerProcess(workspace);
});

afterAll(async () => {
  await broker?.kill('SIGTERM');
  await workspace?.cleanup();
});

describe('a SIGHUP at the first "listening on"', () => {
  it('reloads the config once the start has finished, and the broker runs on', async () => {
    await broker.start();
    broker.child!.kill('SIGHUP');
    await waitUntil(async () => broker.output.includes('"msg":"config reloaded"') || undefined, 30_000, 'the reload');
    expect(broker.child!.exitCode).toBeNull();
    expect(broker.child!.signalCode).toBeNull();
  });
});
