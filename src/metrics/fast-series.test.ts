import { AggregatorRegistry, Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { CounterFamily, GaugeFamily, HistogramFamily, readFastFamilies } from './fast-series.js';
import { snapshotNow } from './registry-snapshot.js';

describe('fast series', () => {
  it('read exactly like prom-client’s own counter and histogram', async () => {
    const theirs = new Registry();
    const bounds = [0.001, 0.01, 0.1];
    const counter = new CounterFamily('fs_req_total', 'h', ['method', 'status']);
    const histogram = new HistogramFamily('fs_req_seconds', 'h', ['method'], bounds);
    const pc = new Counter({ name: 'fs_req_total', help: 'h', labelNames: ['method', 'status'], registers: [theirs] });
    const ph = new Histogram({
      name: 'fs_req_seconds',
      help: 'h',
      labelNames: ['method'],
      buckets: bounds,
      registers: [theirs],
    });

    const post202 = counter.series('POST', '202');
    for (const [method, status, seconds] of [
      ['POST', '202', 0.0004],
      ['POST', '202', 0.001],
      ['POST', '422', 0.05],
      ['GET', '200', 3],
    ] as const) {
      (method === 'POST' && status === '202' ? post202 : counter.series(method, status)).inc();
      histogram.series(method).observe(seconds);
      pc.inc({ method, status });
      ph.observe({ method }, seconds);
    }
    const ours = AggregatorRegistry.aggregate([[counter.read(), histogram.read()]]);
    expect(await ours.metrics()).toBe(await theirs.metrics());
  });

  it('are this thread’s: read with every snapshot, also the synchronous one a crashing actor sends', () => {
    const gauge = new GaugeFamily('fs_slots_in_use', 'h', ['domain'], (g) => g.series('a').set(7));
    expect(readFastFamilies().find((f) => f.name === 'fs_slots_in_use')!.values).toEqual([
      { value: 7, labels: { domain: 'a' } },
    ]);
    expect(snapshotNow().some((f) => f.name === gauge.name)).toBe(true);
    expect(() => new CounterFamily('fs_req_total', 'again')).toThrow(/defined twice/);
  });
});
