/**
 * kill -9 of redis-server under load, restarted from its AOF. With fsync always nothing
 * acknowledged may be lost; with everysec the loss is reported and must lie within the
 * last second before the kill.
 */
import type { LedgerCounts } from '../ledger.js';
import { runChaos, standardVerdict, type ChaosRun, type Scenario } from '../scenario-support.js';
import { sleep } from '../ledger-load.js';

const EVERYSEC_WINDOW_MS = 1000;

export function redisKill(fsync: 'always' | 'everysec'): Scenario {
  const name = `redis-kill-${fsync}`;
  let killedAt = 0;
  const judge = (counts: LedgerCounts, run: ChaosRun): string[] => {
    const lostAges = counts.lostEntries.map((e) => killedAt - e.answeredAt);
    if (fsync === 'always') return standardVerdict(counts);
    // everysec: Redis may lose what it had not fsynced yet; report it, and hold it to the window.
    if (counts.lost > 0)
      run.notes.push(
        `everysec: ${counts.lost} lost, acknowledged ${Math.min(...lostAges)}–${Math.max(...lostAges)} ms before the kill`,
      );
    else run.notes.push('everysec: 0 lost');
    const failures = standardVerdict({ ...counts, lost: 0 });
    const outside = lostAges.filter((age) => age > EVERYSEC_WINDOW_MS).length;
    if (outside > 0) failures.push(`${outside} lost acknowledged more than ${EVERYSEC_WINDOW_MS} ms before the kill`);
    return failures;
  };
  return {
    name,
    proves:
      fsync === 'always'
        ? 'With queue.fsync always, a 202 is sent only after Redis has fsynced the entry: kill -9 of Redis loses nothing acknowledged; while it is down the broker refuses with 503 (never a false 202) and recovers by itself.'
        : 'With queue.fsync everysec, kill -9 of Redis loses at most what was acknowledged in the last second (the count and the timing are reported).',
    run: (options) =>
      runChaos(
        name,
        { fsync },
        options,
        async (run) => {
          run.startLoad(name);
          await run.until(options.durationS / 2);
          killedAt = Date.now();
          await run.env.redis.stop('SIGKILL');
          await sleep((options.outageS ?? 2) * 1000);
          await run.env.redis.start();
          run.notes.push(`Redis down ${((Date.now() - killedAt) / 1000).toFixed(1)} s`);
          await run.until(options.durationS);
        },
        judge,
      ),
  };
}
