/**
 * Short chaos runs (the same code as `npm run chaos`, a few seconds of load each) for the
 * faults inside the broker: kill -9 of the process, actor crashes, one of two brokers killed.
 */
import { describe, expect, it } from 'vitest';
import { actorCrash } from '../../chaos/scenarios/actor-crash.js';
import { brokerKill } from '../../chaos/scenarios/broker-kill.js';
import { scaleOutKill } from '../../chaos/scenarios/scale-out-kill.js';

describe('chaos (short): process faults', () => {
  it.each([brokerKill, actorCrash, scaleOutKill])(
    '$name: nothing acknowledged lost, nothing unexpected',
    async (scenario) => {
      const result = await scenario.run({ durationS: 6, connections: 3 });
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
