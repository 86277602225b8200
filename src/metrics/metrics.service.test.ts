/**
 * The merge behind /metrics, in one process: this thread's numbers and each actor's
 * reading become one exposition, counters of one name summed across threads, Node's
 * metrics apart per thread, and a gauge reported twice called out in the log.
 */
import { describe, expect, it } from 'vitest';
import { createLogger } from '../logger.js';
import { ActorMetricsCollector, type ActorMetricsSource } from './actor-metrics.collector.js';
import { CounterFamily } from './fast-series.js';
import type { MetricFamily } from './metric-families.js';
import { MetricsService } from './metrics.service.js';
import type { PkiProbe } from './pki.probe.js';
import type { QueueProbe } from './queue.probe.js';

const shared = new CounterFamily('t_shared_total', 'counted in two threads', ['domain']);

function source(name: 'ingest' | 'delivery', families: MetricFamily[]): ActorMetricsSource {
  return {
    name,
    isUp: true,
    parked: false,
    incarnation: 0,
    read: async () => families,
    onFinalReading: () => undefined,
  };
}

describe('MetricsService.render', () => {
  it('merges this thread with every actor', async () => {
    shared.series('a').inc(2);
    const lines: string[] = [];
    const logger = createLogger('warn', {}, { write: (line: string) => void lines.push(line) });
    const gauge = (name: string, value: number): MetricFamily => ({
      name,
      help: '',
      type: 'gauge',
      aggregator: 'sum',
      values: [{ value, labels: {} }],
    });
    const actors = [
      source('ingest', [
        {
          name: 't_shared_total',
          help: '',
          type: 'counter',
          aggregator: 'sum',
          values: [{ value: 3, labels: { domain: 'a' } }],
        },
        gauge('nodejs_heap_size_used_bytes', 10),
        gauge('t_twice', 1),
      ]),
      source('delivery', [gauge('t_twice', 1), gauge('nodejs_heap_size_used_bytes', 20)]),
    ];
    const service = new MetricsService({
      version: '9.9.9',
      instanceId: 'unit',
      actors: actors.map((a) => ({
        name: a.name,
        isAvailable: true,
        state: 'up' as const,
        restarts: a.name === 'delivery' ? 2 : 0,
      })),
      collector: new ActorMetricsCollector(actors, 100),
      queue: { refresh: async () => undefined, clear: () => undefined } as unknown as QueueProbe,
      pki: { refresh: async () => undefined } as unknown as PkiProbe,
      readiness: async () => ({ ready: true }),
      logger,
    });
    const text = await service.render();
    expect(text).toContain('t_shared_total{domain="a"} 5');
    expect(text).toContain('nodejs_heap_size_used_bytes{thread="ingest"} 10');
    expect(text).toContain('nodejs_heap_size_used_bytes{thread="delivery"} 20');
    expect(text).toMatch(/nodejs_heap_size_used_bytes\{thread="main"\} \d+/);
    expect(text).toContain('mb_actor_restarts_total{actor="delivery"} 2');
    expect(text).toContain('mb_ready 1');
    expect(text).toContain('mb_build_info{version="9.9.9",instance_id="unit"} 1');
    expect(text).toMatch(/process_resident_memory_bytes \d+/);
    expect(lines.map((l) => JSON.parse(l) as { metric?: string }).filter((l) => l.metric === 't_twice')).toHaveLength(
      1,
    );
    await service.render();
    expect(lines.filter((l) => l.includes('t_twice'))).toHaveLength(1);
  });
});

describe('mb_redis_durable', () => {
  it("follows Redis' persistence as last checked", async () => {
    let durable: boolean | undefined;
    const service = new MetricsService({
      version: '9.9.9',
      instanceId: 'unit',
      actors: [],
      collector: new ActorMetricsCollector([], 100),
      queue: { refresh: async () => undefined, clear: () => undefined } as unknown as QueueProbe,
      pki: { refresh: async () => undefined } as unknown as PkiProbe,
      readiness: async () => ({ ready: true }),
      redisDurable: () => durable,
      logger: createLogger('warn', {}, { write: () => undefined }),
    });
    durable = true;
    expect(await service.render()).toMatch(/^mb_redis_durable 1$/m);
    durable = false;
    expect(await service.render()).toMatch(/^mb_redis_durable 0$/m);
    // Unknown (not checked yet): the last value stays.
    durable = undefined;
    expect(await service.render()).toMatch(/^mb_redis_durable 0$/m);
  });
});
