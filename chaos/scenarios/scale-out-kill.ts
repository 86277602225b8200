/** Two brokers sharing Redis and MariaDB, both under load; one is killed -9 and stays dead. */
import { runChaos, type Scenario } from '../scenario-support.js';

export const scaleOutKill: Scenario = {
  name: 'scale-out-kill',
  proves: 'Two brokers share one consumer group: when one dies with entries read but not stored, the survivor reclaims them (XAUTOCLAIM after queue.claim_idle_ms) and stores them; nothing lost, nothing stored twice.',
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
      const ackedByVictim = run.ledger.acknowledgedIds().length;
      run.notes.push(`killed one of 2 brokers after ${ackedByVictim} acknowledged in all`);
      run.log(`scale-out-kill: killed host-b (survivor pid ${survivor!.child?.pid})`);
      await run.until(options.durationS);
    }),
};
