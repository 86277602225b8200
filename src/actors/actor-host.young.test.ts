import { describe, expect, it } from 'vitest';
import { youngGenerationMb } from './actor-host.js';

describe('youngGenerationMb', () => {
  it('gives the throughput actors the configured young generation', () => {
    expect(youngGenerationMb('ingest', 16)).toBe(16);
    expect(youngGenerationMb('delivery', 0)).toBe(0);
  });

  it('keeps the idle CA actor at 4 MB at most, also when V8 would choose', () => {
    expect(youngGenerationMb('ca', 16)).toBe(4);
    expect(youngGenerationMb('ca', 2)).toBe(2);
    expect(youngGenerationMb('ca', 0)).toBe(4);
  });
});
