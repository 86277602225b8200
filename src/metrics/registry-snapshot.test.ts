import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { sampleKey } from './metric-families.js';
import { readRegistry, readRegistryNow } from './registry-snapshot.js';

describe('snapshotNow (the synchronous reading a crashing actor sends)', () => {
  it('reads counters, gauges and histograms exactly as prom-client’s own async reading does', async () => {
    const registry = new Registry();
    const c = new Counter({ name: 't_total', help: 'h', labelNames: ['domain'], registers: [registry] });
    const g = new Gauge({ name: 't_gauge', help: 'h', registers: [registry] });
    const h = new Histogram({
      name: 't_seconds',
      help: 'h',
      labelNames: ['op'],
      buckets: [0.1, 1],
      registers: [registry],
    });
    c.inc({ domain: 'a' }, 3);
    c.inc({ domain: 'b' });
    g.set(42);
    h.observe({ op: 'seal' }, 0.05);
    h.observe({ op: 'seal' }, 0.5);
    h.observe({ op: 'seal' }, 5);
    h.observe({ op: 'open' }, 0.2);

    const byKey = (families: Awaited<ReturnType<typeof readRegistry>>) =>
      Object.fromEntries(
        families.flatMap((f) => f.values.map((v) => [`${f.name}/${f.type}/${sampleKey(v)}`, v.value])),
      );
    const sync = readRegistryNow(registry);
    expect(byKey(sync)).toEqual(byKey(await readRegistry(registry)));
    expect(byKey(sync)['t_seconds/histogram/t_seconds_bucket{le=+Inf,op=seal}']).toBe(3);
    expect(byKey(sync)['t_seconds/histogram/t_seconds_bucket{le=1,op=seal}']).toBe(2);
  });
});
