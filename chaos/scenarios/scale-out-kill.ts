/** Two brokers sharing Redis and MariaDB, both under load; one is killed -9 and stays dead. */
import { runChaos, type Scenario } from '../scenario-support.js';

export const scaleOutKill: Scenario = {
  name: 'scale-out-kill',
  proves:
    'Two brokers share one consumer group: when one dies with entries read but not stored, the survivor reclaims them (XAUTOCLAIM after queue.claim_idle_ms) and stores them; nothing lost, nothing stored twice.',
  run: (options) =>
    runChaos('scale-out-kill', { fsync: 'always', brokers: 2 }, options, async (run) => {
      const [survivor, victim] = run.env.brokers;
      const [survivorUrl, victimUrl] = run.env.urls;
      let victimAlive = true;
      // One load per broker, one ledger: the victim's load stops sending once it is dead.
      run.startLoad('host-a', () => [survivorUrl!]);
      run.startLoad('host-b', () => (victimAlive ? [victimUrl!] : []));
      await run.until(options.durationS / 2);
      await victim!.kill('SIGKILL');
      victimAlive = false;
      // What the dead broker had read but not stored: only a takeover by the survivor can store it.
      const orphaned = await run.env.pendingOf('chaos-1');
      run.notes.push(
        `killed 1 of 2 brokers after ${run.ledger.acknowledgedIds().length} acknowledged, holding ${orphaned} pending entries`,
      );
      run.log(`scale-out-kill: killed chaos-1 with ${orphaned} pending (survivor pid ${survivor!.child?.pid})`);
      await run.until(options.durationS);
      // The drain waits for the group's pending count to reach 0: the dead consumer's entries included.
    }),
};
