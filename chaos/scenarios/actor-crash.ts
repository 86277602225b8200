/** Actors crashed again and again under load (fault injection), each restarted by the supervisor. */
import { request } from 'undici';
import { mtlsAgent } from '../../test/support/broker-harness.js';
import { runChaos, type Scenario } from '../scenario-support.js';

const VICTIMS = ['ingest', 'delivery', 'encryption'] as const;
const CRASHES = 6;

export const actorCrash: Scenario = {
  name: 'actor-crash',
  proves:
    'An actor that dies (ingest, delivery, encryption, two times each) is restarted by the supervisor; a request that meets the dead actor is refused (503), never falsely acknowledged; batches it held are stored after the restart, once.',
  run: (options) =>
    runChaos('actor-crash', { fsync: 'always', env: { MB_FAULT_INJECTION: '1' } }, options, async (run) => {
      const agent = mtlsAgent(run.env.bundle, 1);
      const crashed: string[] = [];
      try {
        run.startLoad('crash');
        for (let i = 0; i < CRASHES; i++) {
          await run.until((options.durationS * (i + 1)) / (CRASHES + 1));
          const name = VICTIMS[i % VICTIMS.length]!;
          const response = await request(`${run.env.urls[0]}/__test/actors/${name}/crash`, {
            method: 'POST',
            dispatcher: agent,
          });
          await response.body.dump();
          if (response.statusCode === 202) crashed.push(name);
          else run.notes.push(`crash of ${name} answered ${response.statusCode}`);
          run.log(`actor-crash: crashed ${name} (${response.statusCode})`);
        }
        await run.until(options.durationS);
      } finally {
        await agent.close();
      }
      run.notes.push(
        `${crashed.length} actor crashes (${VICTIMS.map((v) => `${v}×${crashed.filter((c) => c === v).length}`).join(', ')})`,
      );
    }),
};
