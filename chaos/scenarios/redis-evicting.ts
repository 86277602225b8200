/**
 * An evicting `maxmemory-policy` set on Redis under load, with `redis.manage_persistence:
 * false` (the broker may not correct it): Redis could now drop a stream key and every
 * message in it without an error. Within seconds nothing more is acknowledged (503
 * QUEUE_NOT_DURABLE) and `/readyz` is 503; once the operator sets `noeviction` again the
 * broker accepts again. With `manage_persistence: true` the broker sets `noeviction` back
 * itself (test/e2e/redis-writability.e2e.test.ts).
 */
import { Redis } from 'ioredis';
import { ReadinessProbe } from '../readiness-probe.js';
import { runChaos, standardVerdict, type Scenario } from '../scenario-support.js';

/** The watch reads INFO every second; a request already past the check may still be answered. */
const SETTLE_MS = 2000;
const READINESS_WITHIN_MS = 5000;

export const redisEvicting: Scenario = {
  name: 'redis-evicting',
  proves:
    'An evicting maxmemory-policy set under load (manage_persistence false): 0 acknowledged from 2 s after the change until noeviction is back, /readyz 503 meanwhile, 202s again after; nothing acknowledged lost.',
  run: (options) => {
    const failures: string[] = [];
    return runChaos(
      'redis-evicting',
      { fsync: 'always', values: { redis: { manage_persistence: false } } },
      options,
      async (run) => {
        const readiness = new ReadinessProbe(run.env.urls[0]!, run.env.bundle).start();
        const redis = new Redis(run.env.redis.url);
        try {
          run.startLoad('evicting');
          await run.until(options.durationS / 3);
          const evictingAt = Date.now();
          await redis.config('SET', 'maxmemory-policy', 'allkeys-lru');
          await run.until((2 * options.durationS) / 3);
          const fixedAt = Date.now();
          await redis.config('SET', 'maxmemory-policy', 'noeviction');
          await run.until(options.durationS);

          const during = run.ledger.answeredBetween(evictingAt + SETTLE_MS, fixedAt);
          const after = run.ledger.answeredBetween(fixedAt + SETTLE_MS, Date.now());
          const notReadyIn = readiness.firstAfter(evictingAt, false);
          const readyIn = readiness.firstAfter(fixedAt, true);
          run.notes.push(
            `evicting ${((fixedAt - evictingAt) / 1000).toFixed(0)} s: ${during.acknowledged} acknowledged, ${during.refusedBy.QUEUE_NOT_DURABLE ?? 0} QUEUE_NOT_DURABLE; not ready after ${notReadyIn ?? '∞'} ms, ready ${readyIn ?? '∞'} ms after noeviction; ${after.acknowledged} acknowledged after`,
          );
          if (during.acknowledged > 0) failures.push(`${during.acknowledged} acknowledged while Redis could evict`);
          if ((during.refusedBy.QUEUE_NOT_DURABLE ?? 0) === 0) failures.push('no submit refused as QUEUE_NOT_DURABLE');
          if (notReadyIn === undefined || notReadyIn > READINESS_WITHIN_MS)
            failures.push('/readyz did not turn 503 within 5 s of the evicting policy');
          if (readyIn === undefined || readyIn > READINESS_WITHIN_MS)
            failures.push('/readyz did not turn 200 within 5 s of noeviction');
          if (after.acknowledged === 0) failures.push('nothing acknowledged after noeviction was back');
        } finally {
          await readiness.stop();
          redis.disconnect();
        }
      },
      (counts) => [...standardVerdict(counts), ...failures],
    );
  },
};
