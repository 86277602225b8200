/**
 * Redis unreachable without a reset (a network partition that drops packets) under load.
 * The broker reaches its test-owned Redis through a TCP proxy that the scenario blackholes:
 * open connections stay open and silent, new ones are accepted and silent too. When the
 * path is back, only NEW connections forward again (the old sockets stay mute for good),
 * so the broker recovers only if it gave up its silent connections and made new ones.
 */
import { TcpProxy } from '../../test/support/tcp-proxy.js';
import { sleep } from '../ledger-load.js';
import { runChaos, standardVerdict, type Scenario } from '../scenario-support.js';

/** Back to 202s after the path returns: a reconnect, with room for a busy box. */
const RECOVERY_LIMIT_MS = 10_000;

export const redisBlackhole: Scenario = {
  name: 'redis-blackhole',
  proves:
    'With Redis silently unreachable (packets dropped, no RST), submits fail within the command timeout (503, never a 202), the silent connections are torn down, and the broker reconnects by itself once the path is back: nothing acknowledged lost.',
  run: async (options) => {
    let proxy: TcpProxy | undefined;
    let recoveryMs: number | undefined;
    let acknowledgedWhileSilent = false;
    const outageS = options.outageS ?? 10;
    try {
      return await runChaos(
        'redis-blackhole',
        {
          fsync: 'always',
          prepare: async (workspace, redis) => {
            proxy = await TcpProxy.create('127.0.0.1', redis.port);
            workspace.reconfigure({ redis: { url: `redis://127.0.0.1:${proxy.port}` } });
          },
        },
        options,
        async (run) => {
          run.startLoad('redis-blackhole');
          await run.until(options.durationS / 2);
          proxy!.blackhole();
          const cutAt = Date.now();
          await sleep(outageS * 1000);
          // Sent once the first timeouts have passed: no such request may have had a 202.
          const acknowledgedDuring = run.ledger.firstAcknowledgedAfter(cutAt + 3000);
          await proxy!.restore();
          const restoredAt = Date.now();
          run.notes.push(`Redis blackholed ${((restoredAt - cutAt) / 1000).toFixed(1)} s`);
          acknowledgedWhileSilent = acknowledgedDuring !== undefined && acknowledgedDuring < restoredAt;
          await run.until(Math.max(options.durationS, options.durationS / 2 + outageS + 5));
          const first = run.ledger.firstAcknowledgedAfter(restoredAt);
          if (first !== undefined) {
            recoveryMs = first - restoredAt;
            run.notes.push(`202s again ${(recoveryMs / 1000).toFixed(1)} s after the path was back`);
          }
        },
        (counts) => {
          const failures = standardVerdict(counts);
          if (acknowledgedWhileSilent) failures.push('a 202 while Redis was unreachable');
          if (recoveryMs === undefined) failures.push('no 202 after the path was back');
          else if (recoveryMs > RECOVERY_LIMIT_MS)
            failures.push(`202s again only ${(recoveryMs / 1000).toFixed(1)} s after the path was back`);
          return failures;
        },
      );
    } finally {
      await proxy?.close();
    }
  },
};
