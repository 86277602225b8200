/**
 * The main thread's young generation is bounded like the actors': the supervisor restarts
 * itself in place (same pid) with --max-semi-space-size, --max-old-space-size and V8's
 * helper threads (--v8-pool-size, `actors.gc_threads`), under SCHED_BATCH
 * (`actors.batch_scheduling`), and still serves.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { schedulingPolicy } from '../../src/app/main-heap.js';
import {
  BrokerProcess,
  createWorkspace,
  demoBundle,
  mtlsAgent,
  postJson,
  type Workspace,
} from '../support/broker-harness.js';

let workspace: Workspace;
let broker: BrokerProcess;

beforeAll(async () => {
  workspace = await createWorkspace({ actors: { young_generation_mb: 12, gc_threads: 3 } });
  broker = new BrokerProcess(workspace);
  await broker.start();
});

afterAll(async () => {
  await broker?.kill('SIGTERM');
  await workspace?.cleanup();
});

describe('the main thread heap', () => {
  it('runs under --max-semi-space-size, --max-old-space-size and --v8-pool-size in the process that was started, and accepts messages', async () => {
    const pid = broker.child!.pid!;
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    expect(argv).toContain('--max-semi-space-size=4');
    expect(argv).toContain('--max-old-space-size=256');
    expect(argv).toContain('--v8-pool-size=3');
    // V8's helper threads are named V8Worker: the pool holds as many as configured.
    const helpers = readdirSync(`/proc/${pid}/task`).filter(
      (task) => readFileSync(`/proc/${pid}/task/${task}/comm`, 'utf8').trim() === 'V8Worker',
    );
    expect(helpers).toHaveLength(3);
    // actors.batch_scheduling (default on): the restart went through chrt, and every thread
    // of the same pid — front, actors, V8's helpers — runs under SCHED_BATCH (policy 3).
    const policies = readdirSync(`/proc/${pid}/task`).map((task) =>
      schedulingPolicy(readFileSync(`/proc/${pid}/task/${task}/stat`, 'utf8')),
    );
    expect(new Set(policies)).toEqual(new Set([3]));
    const agent = mtlsAgent(demoBundle(workspace));
    try {
      const response = await postJson(agent, broker.url, { sender_number: '+14155550123', message_body: 'heap' });
      expect(response.status).toBe(202);
    } finally {
      await agent.close();
    }
  });
});
