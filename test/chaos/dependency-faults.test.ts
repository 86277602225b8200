/**
 * Short chaos runs (the same code as `npm run chaos`, a few seconds of load each) for the
 * faults around the broker: Redis killed, MariaDB away (briefly, and past the identity
 * cache while new connections keep coming), a flapping webhook downstream.
 */
import { describe, expect, it } from 'vitest';
import { mariadbOutage } from '../../chaos/scenarios/mariadb-outage.js';
import { mysqlLongOutage } from '../../chaos/scenarios/mysql-long-outage.js';
import { redisKill } from '../../chaos/scenarios/redis-kill.js';
import { webhookFlap } from '../../chaos/scenarios/webhook-flap.js';

describe('chaos (short): dependency faults', () => {
  it.each([redisKill('always'), redisKill('everysec'), mariadbOutage, mysqlLongOutage, webhookFlap])(
    '$name: nothing acknowledged lost, nothing unexpected',
    async (scenario) => {
      const result = await scenario.run({ durationS: 6, outageS: 4, connections: 3 });
      console.log(
        `${result.name}: ${JSON.stringify({ ...result.counts, lostEntries: undefined })} ${result.notes.join('; ')}`,
      );
      expect(result.counts.acknowledged).toBeGreaterThan(0);
      // everysec may lose what Redis had not fsynced; the scenario's verdict holds it to the last second.
      if (scenario.name !== 'redis-kill-everysec') expect(result.counts.lost).toBe(0);
      expect(result.counts.unexpected).toBe(0);
      // A few seconds of outage say nothing about memory over a long one, and the broker runs
      // near its 350 MB RSS target under any load on Node 24 (docs/reliability.md): the RSS
      // verdict is `npm run chaos`'s; everything else holds here.
      const rssVerdict = (failure: string) => scenario.name === 'mysql-long-outage' && /^broker peak RSS/.test(failure);
      expect(result.failures.filter((failure) => !rssVerdict(failure))).toEqual([]);
    },
    240_000,
  );
});
