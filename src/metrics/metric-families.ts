/**
 * Metric families as plain data: what `registry.getMetricsAsJSON()` yields, what an actor
 * sends over its port, and the arithmetic the supervisor needs to merge the threads and
 * to carry an actor's counters across its restarts.
 *
 *   actor incarnation 1 ──last snapshot──▶ offset ─┐
 *   actor incarnation 2 ──live snapshot───────────▶ offset + live  (counters, histograms)
 *                                                  live only       (gauges: a reading, not a total)
 */
import type { Aggregator } from 'prom-client';

export type MetricKind = 'counter' | 'gauge' | 'histogram' | 'summary';

export interface MetricSample {
  value: number;
  labels: Record<string, string | number>;
  /** Set for histogram series: `<name>_bucket`, `<name>_sum`, `<name>_count`. */
  metricName?: string;
}

export interface MetricFamily {
  name: string;
  help: string;
  type: MetricKind;
  aggregator: Aggregator;
  values: MetricSample[];
}

/** Counters and histograms only grow: an actor's restart must not take them back to zero. */
export function isMonotonic(family: Pick<MetricFamily, 'type'>): boolean {
  return family.type === 'counter' || family.type === 'histogram';
}

export function sampleKey(sample: MetricSample): string {
  const labels = Object.keys(sample.labels)
    .sort()
    .map((k) => `${k}=${String(sample.labels[k])}`)
    .join(',');
  return `${sample.metricName ?? ''}{${labels}}`;
}

/**
 * `base + next`: monotonic families are added sample by sample (a series only one side
 * has is kept as it is); for the others `next` wins, and what only `base` has is kept.
 */
export function sumFamilies(base: readonly MetricFamily[], next: readonly MetricFamily[]): MetricFamily[] {
  const out = new Map<string, MetricFamily>(base.map((f) => [f.name, f]));
  for (const family of next) {
    const prior = out.get(family.name);
    if (!prior || !isMonotonic(family) || prior.type !== family.type) {
      out.set(family.name, family);
      continue;
    }
    const samples = new Map<string, MetricSample>(prior.values.map((s) => [sampleKey(s), s]));
    for (const sample of family.values) {
      const key = sampleKey(sample);
      const earlier = samples.get(key);
      samples.set(key, earlier ? { ...sample, value: earlier.value + sample.value } : sample);
    }
    out.set(family.name, { ...family, values: [...samples.values()] });
  }
  return [...out.values()];
}

export function monotonicOnly(families: readonly MetricFamily[]): MetricFamily[] {
  return families.filter(isMonotonic);
}

/**
 * Node's own metrics (`nodejs_*`: event-loop lag, heap, GC, handles) are per thread: they
 * get a `thread` label. `process_*` (CPU, RSS, file descriptors) describe the whole
 * process and are reported by the main thread only, so actors' copies are dropped.
 */
export function labelThread(
  families: readonly MetricFamily[],
  thread: string,
  keepProcessWide: boolean,
): MetricFamily[] {
  const out: MetricFamily[] = [];
  for (const family of families) {
    if (family.name.startsWith('process_')) {
      if (keepProcessWide) out.push(family);
      continue;
    }
    if (!family.name.startsWith('nodejs_')) {
      out.push(family);
      continue;
    }
    out.push({ ...family, values: family.values.map((s) => ({ ...s, labels: { ...s.labels, thread } })) });
  }
  return out;
}

/** Plain data from prom-client's JSON (drops exemplars and shared-label leftovers). */
export function toFamilies(
  json: ReadonlyArray<{
    name: string;
    help: string;
    type: unknown;
    aggregator: Aggregator;
    values: ReadonlyArray<unknown>;
  }>,
): MetricFamily[] {
  return json.map((m) => ({
    name: m.name,
    help: m.help,
    type: String(m.type) as MetricKind,
    aggregator: m.aggregator,
    values: m.values.map((raw) => {
      const v = raw as MetricSample;
      const sample: MetricSample = { value: v.value, labels: { ...v.labels } };
      if (v.metricName) sample.metricName = v.metricName;
      return sample;
    }),
  }));
}
