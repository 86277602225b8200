import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { IDLE_GC_DEFAULTS, shouldCollect } from './idle-gc.js';

const MB = 1 << 20;

describe('shouldCollect', () => {
  const options = { ...IDLE_GC_DEFAULTS, growthBytes: 8 * MB };

  it('collects a quiet thread whose heap grew since the last collection (start-up counts)', () => {
    expect(shouldCollect({ busyShare: 0.001, heapBytes: 40 * MB, baselineBytes: 0 }, options)).toBe(true);
    expect(shouldCollect({ busyShare: 0.001, heapBytes: 31 * MB, baselineBytes: 22 * MB }, options)).toBe(true);
  });

  it('leaves a busy thread to V8, and a quiet one whose heap has not grown', () => {
    expect(shouldCollect({ busyShare: 0.5, heapBytes: 400 * MB, baselineBytes: 0 }, options)).toBe(false);
    expect(shouldCollect({ busyShare: 0.001, heapBytes: 25 * MB, baselineBytes: 22 * MB }, options)).toBe(false);
  });
});

// The built module in a thread of its own, as an actor runs it: garbage made, then quiet.
const builtModule = new URL('../../dist/actors/idle-gc.js', import.meta.url).href;
const threadCode = `
const { parentPort } = require('node:worker_threads');
const { getHeapStatistics } = require('node:v8');
(async () => {
  const { startIdleGc } = await import(${JSON.stringify(builtModule)});
  const logger = { debug: () => {} };
  let keep = [];
  for (let i = 0; i < 400_000; i++) keep.push({ i, text: 'garbage ' + i });
  keep = null;
  const heap = () => { const h = getHeapStatistics(); return { total: h.total_heap_size, used: h.used_heap_size }; };
  const before = heap();
  startIdleGc(logger, { intervalMs: 200, idleCpuShare: 0.5, growthBytes: 4 << 20 });
  setTimeout(() => {
    parentPort.postMessage({ before, after: heap(), gcGlobal: typeof globalThis.gc });
  }, 700);
})();`;

describe('startIdleGc', () => {
  it('returns a quiet thread’s garbage, without leaving a global gc behind', async () => {
    const worker = new Worker(threadCode, { eval: true });
    type Heap = { total: number; used: number };
    const result = await new Promise<{ before: Heap; after: Heap; gcGlobal: string }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    await worker.terminate();
    // Without the check, both stay where they are (V8 has no reason to collect a quiet heap).
    expect(result.before.used).toBeGreaterThan(20 * MB);
    expect(result.after.used).toBeLessThan(result.before.used / 4);
    expect(result.after.total).toBeLessThan(result.before.total * 0.8);
    expect(result.gcGlobal).toBe('undefined');
  });
});
