/** kill -9 of the whole broker process, three times under load, restarted each time. */
import { runChaos, type Scenario } from '../scenario-support.js';

export const brokerKill: Scenario = {
  name: 'broker-kill',
  proves:
    'A 202 means the message is in Redis (AOF, fsync always): kill -9 of the process at any moment, three times, loses nothing acknowledged; entries read but not stored are re-read after the restart and stored once (unique message_id).',
  run: (options) =>
    runChaos('broker-kill', { fsync: 'always' }, options, async (run) => {
      const broker = run.env.brokers[0]!;
      run.startLoad('kill');
      for (const fraction of [0.25, 0.5, 0.75]) {
        await run.until(options.durationS * fraction);
        await broker.kill('SIGKILL');
        const killedAt = Date.now();
        await broker.start();
        run.log(`broker-kill: killed and restarted in ${Date.now() - killedAt} ms`);
        run.notes.push(`restart ${((Date.now() - killedAt) / 1000).toFixed(1)} s`);
      }
      await run.until(options.durationS);
    }),
};
