import { describe, expect, it } from 'vitest';
import { boundedHeapArgs, gcThreadsFor, semiSpaceMbFor } from './main-heap.js';

const limits = (youngGenerationMb: number, oldGenerationMb: number, gcThreads = 2) => ({
  youngGenerationMb,
  oldGenerationMb,
  gcThreads,
});

describe('the main thread heap bound', () => {
  it('restarts with a semi-space of a third of the young generation and the old generation bound, keeping the node flags', () => {
    expect(boundedHeapArgs(limits(16, 256), ['--cpu-prof'], undefined)).toEqual([
      '--max-semi-space-size=5',
      '--max-old-space-size=256',
      '--v8-pool-size=2',
      '--cpu-prof',
    ]);
    expect(semiSpaceMbFor(1)).toBe(1);
  });

  it('leaves V8 its default at 0, and an operator’s own flag alone, each on its own', () => {
    expect(boundedHeapArgs(limits(0, 0), ['--v8-pool-size=4'], undefined)).toBeUndefined();
    expect(boundedHeapArgs(limits(16, 0), ['--max-semi-space-size=32'], '--v8-pool-size=3')).toBeUndefined();
    expect(
      boundedHeapArgs(limits(16, 256), [], '--max-old-space-size=512 --max-semi-space-size=2 --v8-pool-size=1'),
    ).toBeUndefined();
    expect(boundedHeapArgs(limits(16, 256), ['--max-old-space-size=1024', '--v8-pool-size=4'], undefined)).toEqual([
      '--max-semi-space-size=5',
      '--max-old-space-size=1024',
      '--v8-pool-size=4',
    ]);
    expect(boundedHeapArgs(limits(0, 256), ['--v8-pool-size=4'], undefined)).toEqual([
      '--max-old-space-size=256',
      '--v8-pool-size=4',
    ]);
  });

  it('gives V8 as many helper threads as the host has cores, at most 4, or the configured count', () => {
    expect([1, 2, 3, 4, 8, 64].map((cores) => gcThreadsFor(0, cores))).toEqual([1, 2, 3, 4, 4, 4]);
    expect(gcThreadsFor(6, 2)).toBe(6);
    expect(boundedHeapArgs(limits(0, 0, 0), [], undefined)).toEqual([expect.stringMatching(/^--v8-pool-size=[1-4]$/)]);
  });
});
