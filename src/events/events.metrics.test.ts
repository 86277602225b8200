import { describe, expect, it } from 'vitest';
import { registry } from '../metrics/registry.js';

describe('status-event metrics', () => {
  it('loaded by every thread that publishes, register no gauge: /metrics would sum one per thread', async () => {
    await import('./events.metrics.js');
    const metrics = await registry.getMetricsAsJSON();
    expect(metrics.map((m) => m.name)).toContain('mb_events_published_total');
    expect(metrics.filter((m) => String(m.type) === 'gauge' && m.name.startsWith('mb_')).map((m) => m.name)).toEqual(
      [],
    );
  });
});
