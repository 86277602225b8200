import { describe, expect, it } from 'vitest';
import { boundedHeapArgs, semiSpaceMbFor } from './main-heap.js';

const limits = (youngGenerationMb: number, oldGenerationMb: number) => ({ youngGenerationMb, oldGenerationMb });

describe('the main thread heap bound', () => {
  it('restarts with a semi-space of a third of the young generation and the old generation bound, keeping the node flags', () => {
    expect(boundedHeapArgs(limits(16, 256), ['--cpu-prof'], undefined)).toEqual([
      '--max-semi-space-size=5',
      '--max-old-space-size=256',
      '--cpu-prof',
    ]);
    expect(semiSpaceMbFor(1)).toBe(1);
  });

  it('leaves V8 its default at 0, and an operator’s own flag alone, each on its own', () => {
    expect(boundedHeapArgs(limits(0, 0), [], undefined)).toBeUndefined();
    expect(boundedHeapArgs(limits(16, 0), ['--max-semi-space-size=32'], undefined)).toBeUndefined();
    expect(boundedHeapArgs(limits(16, 256), [], '--max-old-space-size=512 --max-semi-space-size=2')).toBeUndefined();
    expect(boundedHeapArgs(limits(16, 256), ['--max-old-space-size=1024'], undefined)).toEqual([
      '--max-semi-space-size=5',
      '--max-old-space-size=1024',
    ]);
    expect(boundedHeapArgs(limits(0, 256), [], undefined)).toEqual(['--max-old-space-size=256']);
  });
});
