import { describe, expect, it } from 'vitest';
import { batchSchedulingPrefix, boundedHeapArgs, gcThreadsFor, schedulingPolicy, semiSpaceMbFor } from './main-heap.js';

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

describe('batch scheduling', () => {
  // /proc/self/stat of a process named "node (x)": 52 fields, policy (41st) = 3.
  const stat = (policy: number) =>
    `123 (node (x)) S ${Array.from({ length: 36 }, (_, i) => String(i + 4)).join(' ')} 0 ${policy} 0 0 0`;

  it('reads the policy from /proc/self/stat, a command name with spaces and parentheses included', () => {
    expect(schedulingPolicy(stat(3))).toBe(3);
    expect(schedulingPolicy(stat(0))).toBe(0);
    // This process, on Linux: SCHED_OTHER (0) or SCHED_BATCH (3).
    if (process.platform === 'linux') expect([0, 3]).toContain(schedulingPolicy());
  });

  it('restarts through chrt --batch only when asked, on Linux, and not already under SCHED_BATCH', () => {
    expect(batchSchedulingPrefix(false, 0)).toBeUndefined();
    expect(batchSchedulingPrefix(true, 3)).toBeUndefined();
    if (process.platform === 'linux')
      expect(batchSchedulingPrefix(true, 0)).toEqual([expect.stringMatching(/chrt$/), '--batch', '0']);
  });
});
