/**
 * Short chaos runs (the same code as `npm run chaos`) for a Redis that fails over or goes
 * silent: a Sentinel master killed or frozen under load with `queue.replicas: 1`, and a
 * blackholed Redis. Each: nothing acknowledged lost, nothing unexpected, 202s again within
 * seconds of the promotion / of the path coming back.
 */
import { describe, expect, it } from 'vitest';
import { redisBlackhole } from '../../chaos/scenarios/redis-blackhole.js';
import { sentinelFailover } from '../../chaos/scenarios/sentinel-failover.js';

describe('chaos (short): Redis failover and blackhole', () => {
  it.each([sentinelFailover('kill'), sentinelFailover('freeze'), redisBlackhole])(
    '$name: nothing acknowledged lost, back to 202s by itself',
    async (scenario) => {
      // The outage outlasts promotion + the scenario's recovery limit: recovering only when the old master returns fails.
      const result = await scenario.run({ durationS: 8, outageS: 11, connections: 3 });
      console.log(
        `${result.name}: ${JSON.stringify({ ...result.counts, lostEntries: undefined })} ${result.notes.join('; ')}`,
      );
      expect(result.counts.acknowledged).toBeGreaterThan(0);
      expect(result.counts.lost).toBe(0);
      expect(result.counts.unexpected).toBe(0);
      expect(result.failures).toEqual([]);
    },
    240_000,
  );
});
