/**
 * A Sentinel failover under load, with `queue.replicas: 1`: a real master, two replicas
 * and a sentinel on loopback ports. The master is either killed (-9, restarted later: it
 * comes back as a replica) or frozen (SIGSTOP: it hangs with its sockets open, and wakes
 * up later still believing it is master until the sentinel demotes it).
 *
 * What must hold: nothing acknowledged is lost (every 202 was on a replica before it was
 * sent, and the promoted replica is the most advanced one); the broker follows the
 * promotion by itself and answers 202 again within seconds of it; the woken old master
 * never gets a 202'd write (it has no replica left to confirm one).
 */
import { SentinelTopology } from '../../test/support/sentinel-topology.js';
import type { LedgerCounts } from '../ledger.js';
import { sleep } from '../ledger-load.js';
import { runChaos, standardVerdict, type Scenario } from '../scenario-support.js';

/**
 * "Back to 202s within a few seconds of the promotion", with room for a busy box (runs
 * measure about 1 s). The old master comes back later than this (outageS), so a broker
 * that only recovers when it does fails the scenario.
 */
const RECOVERY_LIMIT_MS = 6_000;

export function sentinelFailover(mode: 'kill' | 'freeze'): Scenario {
  const name = `sentinel-failover-${mode}`;
  let recoveryMs: number | undefined;
  const judge = (counts: LedgerCounts): string[] => {
    const failures = standardVerdict(counts);
    if (recoveryMs === undefined) failures.push('no 202 after the promotion');
    else if (recoveryMs > RECOVERY_LIMIT_MS)
      failures.push(`202s again only ${(recoveryMs / 1000).toFixed(1)} s after the promotion`);
    return failures;
  };
  return {
    name,
    proves:
      mode === 'kill'
        ? 'With Sentinel and queue.replicas 1, kill -9 of the master under load loses nothing acknowledged; the broker follows the promotion and answers 202 again within seconds.'
        : 'With Sentinel and queue.replicas 1, a master that hangs (SIGSTOP) instead of dying is left behind: the broker follows the promotion within seconds, loses nothing acknowledged, and takes no write from the old master when it wakes up.',
    run: async (options) => {
      let topology: SentinelTopology | undefined;
      recoveryMs = undefined;
      const outageS = options.outageS ?? 10;
      try {
        return await runChaos(
          name,
          {
            fsync: 'always',
            values: { queue: { replicas: 1 } },
            prepare: async (workspace, redis) => {
              topology = await SentinelTopology.create(redis);
              workspace.reconfigure({ redis: topology.redisValues });
            },
          },
          options,
          async (run) => {
            const cluster = topology!;
            run.env.queueRedisUrl = () => cluster.masterUrl();
            run.startLoad(name);
            await run.until(options.durationS / 2);
            const faultAt = Date.now();
            try {
              if (mode === 'kill') await run.env.redis.stop('SIGKILL');
              else run.env.redis.freeze();
              const promotedAt = await cluster.waitForPromotion();
              run.notes.push(`promoted ${((promotedAt - faultAt) / 1000).toFixed(1)} s after the ${mode}`);
              const noteRecovery = () => {
                const first = run.ledger.firstAcknowledgedAfter(promotedAt);
                if (recoveryMs === undefined && first !== undefined) recoveryMs = first - promotedAt;
              };
              // The fault lasts outageS in all; the load goes on for a while after it ends.
              while (Date.now() < faultAt + outageS * 1000) {
                noteRecovery();
                await sleep(100);
              }
              if (mode === 'kill') await run.env.redis.start();
              else run.env.redis.thaw();
              run.notes.push(`old master ${mode === 'kill' ? 'restarted' : 'woke up'} after ${outageS} s`);
              await run.until(Math.max(options.durationS, options.durationS / 2 + outageS + 5));
              noteRecovery();
              if (recoveryMs !== undefined)
                run.notes.push(`202s again ${(recoveryMs / 1000).toFixed(1)} s after the promotion`);
            } finally {
              // A frozen server would hang the clean-up that follows.
              if (mode === 'freeze') run.env.redis.thaw();
            }
          },
          judge,
        );
      } finally {
        await topology?.destroy();
      }
    },
  };
}
