import { describe, expect, it } from 'vitest';
import { labelThread, monotonicOnly, sumFamilies, type MetricFamily } from './metric-families.js';

const counter = (name: string, values: MetricFamily['values']): MetricFamily => ({
  name,
  help: name,
  type: 'counter',
  aggregator: 'sum',
  values,
});
const gauge = (name: string, values: MetricFamily['values']): MetricFamily => ({
  name,
  help: name,
  type: 'gauge',
  aggregator: 'sum',
  values,
});

describe('sumFamilies', () => {
  it('adds counters series by series and keeps series only one side has', () => {
    const base = [
      counter('c_total', [
        { value: 5, labels: { domain: 'a' } },
        { value: 1, labels: { domain: 'old' } },
      ]),
    ];
    const next = [
      counter('c_total', [
        { value: 2, labels: { domain: 'a' } },
        { value: 7, labels: { domain: 'b' } },
      ]),
    ];
    const [sum] = sumFamilies(base, next);
    expect(sum!.values).toEqual(
      expect.arrayContaining([
        { value: 7, labels: { domain: 'a' } },
        { value: 1, labels: { domain: 'old' } },
        { value: 7, labels: { domain: 'b' } },
      ]),
    );
    expect(sum!.values).toHaveLength(3);
  });

  it('adds histogram series (buckets, sum, count) by metric name and labels, label order aside', () => {
    const h = (le1: number, count: number): MetricFamily => ({
      name: 'h_seconds',
      help: '',
      type: 'histogram',
      aggregator: 'sum',
      values: [
        { value: le1, labels: { le: 0.1, op: 'x' }, metricName: 'h_seconds_bucket' },
        { value: count, labels: { op: 'x', le: '+Inf' }, metricName: 'h_seconds_bucket' },
        { value: count, labels: { op: 'x' }, metricName: 'h_seconds_count' },
      ],
    });
    const [sum] = sumFamilies([h(1, 2)], [h(3, 4)]);
    expect(sum!.values.map((v) => v.value)).toEqual([4, 6, 6]);
  });

  it('takes gauges from the newer reading: a gauge is a reading, not a total', () => {
    const [g] = sumFamilies(
      [gauge('queue', [{ value: 10, labels: {} }])],
      [gauge('queue', [{ value: 3, labels: {} }])],
    );
    expect(g!.values).toEqual([{ value: 3, labels: {} }]);
  });

  it('monotonicOnly keeps counters and histograms', () => {
    expect(monotonicOnly([counter('a_total', []), gauge('b', [])]).map((f) => f.name)).toEqual(['a_total']);
  });
});

describe('labelThread', () => {
  const families = [
    gauge('nodejs_heap_size_used_bytes', [{ value: 1, labels: {} }]),
    gauge('process_resident_memory_bytes', [{ value: 2, labels: {} }]),
    counter('mb_x_total', [{ value: 3, labels: {} }]),
  ];

  it('labels nodejs_* with the thread and leaves the broker’s own metrics alone', () => {
    const out = labelThread(families, 'delivery', false);
    expect(out.map((f) => f.name)).toEqual(['nodejs_heap_size_used_bytes', 'mb_x_total']);
    expect(out[0]!.values[0]!.labels).toEqual({ thread: 'delivery' });
    expect(out[1]!.values[0]!.labels).toEqual({});
  });

  it('keeps process-wide metrics only where asked (the main thread)', () => {
    expect(labelThread(families, 'main', true).map((f) => f.name)).toContain('process_resident_memory_bytes');
  });
});
