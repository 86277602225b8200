/**
 * Short chaos runs (the same code as `npm run chaos`) for issue #16's faults of Redis'
 * resources and of a misconfigured peer: an evicting policy, Redis full, the AOF disk full,
 * a second broker with keys of its own. Each holds: nothing acknowledged lost, and the
 * scenario's own checks (refusals, /readyz, recovery) pass.
 */
import { describe, expect, it } from 'vitest';
import { aofDiskFull } from '../../chaos/scenarios/aof-disk-full.js';
import { keyMismatch } from '../../chaos/scenarios/key-mismatch.js';
import { redisEvicting } from '../../chaos/scenarios/redis-evicting.js';
import { redisFull } from '../../chaos/scenarios/redis-full.js';

describe('chaos (short): Redis resources and secrets', () => {
  it.each([
    { scenario: redisEvicting, durationS: 12 },
    { scenario: redisFull, durationS: 8, outageS: 3 },
    { scenario: aofDiskFull, durationS: 9, outageS: 3 },
    { scenario: keyMismatch, durationS: 9 },
  ])(
    '$scenario.name: nothing acknowledged lost, and the fault is refused and recovered from',
    async ({ scenario, durationS, outageS }) => {
      const result = await scenario.run({ durationS, connections: 3, ...(outageS ? { outageS } : {}) });
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
