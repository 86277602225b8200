import { describe, expect, it } from 'vitest';
import { boundedHeapArgs, semiSpaceMbFor } from './main-heap.js';

describe('the main thread heap bound', () => {
  it('restarts with a semi-space of a third of the young generation, keeping the node flags', () => {
    expect(boundedHeapArgs(16, ['--cpu-prof'], undefined)).toEqual(['--max-semi-space-size=5', '--cpu-prof']);
    expect(semiSpaceMbFor(1)).toBe(1);
  });

  it('leaves V8 its default at 0, and an operator’s own flag alone', () => {
    expect(boundedHeapArgs(0, [], undefined)).toBeUndefined();
    expect(boundedHeapArgs(16, ['--max-semi-space-size=32'], undefined)).toBeUndefined();
    expect(boundedHeapArgs(16, [], '--max-old-space-size=512 --max-semi-space-size=2')).toBeUndefined();
  });
});
