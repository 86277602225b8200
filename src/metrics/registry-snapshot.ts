/**
 * Readings of this thread's metrics: the broker's own families (fast-series.ts) and
 * whatever is registered in the thread's prom-client registry (registry.ts: Node's
 * default metrics, and metrics other modules register there).
 *
 * prom-client is imported dynamically: an actor loads it right after it is ready
 * (`loadThreadRegistry`), so it costs nothing on the path of a restart.
 *
 * `snapshotNow()` is synchronous: it is what a crashing actor sends as its last words
 * (from `uncaughtExceptionMonitor`, where nothing async will run any more), so the counts
 * since the last scrape are not lost with the thread. prom-client only offers an async
 * reading, so for its metrics this reads each one's `hashMap` — internal, but unchanged
 * across prom-client 13–15; registry-snapshot.test.ts compares both readings so an
 * upgrade that changes it fails the tests instead of silently losing counts.
 */
import type { Registry } from 'prom-client';
import { readFastFamilies } from './fast-series.js';
import { toFamilies, type MetricFamily, type MetricKind, type MetricSample } from './metric-families.js';

let threadRegistry: Registry | undefined;

const EVENT_LOOP_SAMPLE_MS = 100;

/** This thread's prom-client registry, with Node's metrics (event-loop lag, heap, GC) on. */
export async function loadThreadRegistry(): Promise<Registry> {
  if (threadRegistry) return threadRegistry;
  const [{ registry }, { collectDefaultMetrics }] = await Promise.all([import('./registry.js'), import('prom-client')]);
  if (!threadRegistry) {
    // The event-loop lag is sampled by a timer of this period in every thread: prom-client's
    // 10 ms woke an idle broker's three threads 300 times a second (≈ 1 % of a core doing
    // nothing). A blocked loop delays the 100 ms timer just as much, so the lag quantiles
    // still show it; they hold fewer samples.
    collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
    threadRegistry = registry;
  }
  return registry;
}

/** Everything this thread measures (runs collect callbacks). */
export async function snapshot(): Promise<MetricFamily[]> {
  return [...readFastFamilies(), ...(await readRegistry(await loadThreadRegistry()))];
}

/** The synchronous reading: counters and histograms exact, gauges as last set or collected. */
export function snapshotNow(): MetricFamily[] {
  return [...readFastFamilies(), ...(threadRegistry ? readRegistryNow(threadRegistry) : [])];
}

export async function readRegistry(registry: Registry): Promise<MetricFamily[]> {
  return toFamilies(await registry.getMetricsAsJSON());
}

interface Internals {
  name: string;
  help: string;
  type: MetricKind;
  aggregator: MetricFamily['aggregator'];
  hashMap?: Record<
    string,
    {
      value?: number;
      labels: Record<string, string | number>;
      bucketValues?: Record<string, number>;
      sum?: number;
      count?: number;
    }
  >;
  upperBounds?: number[];
}

export function readRegistryNow(registry: Registry): MetricFamily[] {
  const out: MetricFamily[] = [];
  for (const metric of registry.getMetricsAsArray() as unknown as Internals[]) {
    if (!metric.hashMap || metric.type === 'summary') continue;
    const entries = Object.values(metric.hashMap);
    const values: MetricSample[] = [];
    if (metric.type === 'histogram') {
      for (const entry of entries) {
        let cumulative = 0;
        for (const bound of metric.upperBounds ?? []) {
          cumulative += entry.bucketValues?.[bound] ?? 0;
          values.push({
            value: cumulative,
            labels: { le: bound, ...entry.labels },
            metricName: `${metric.name}_bucket`,
          });
        }
        values.push({
          value: entry.count ?? 0,
          labels: { le: '+Inf', ...entry.labels },
          metricName: `${metric.name}_bucket`,
        });
        values.push({ value: entry.sum ?? 0, labels: { ...entry.labels }, metricName: `${metric.name}_sum` });
        values.push({ value: entry.count ?? 0, labels: { ...entry.labels }, metricName: `${metric.name}_count` });
      }
    } else {
      for (const entry of entries) values.push({ value: entry.value ?? 0, labels: { ...entry.labels } });
    }
    out.push({ name: metric.name, help: metric.help, type: metric.type, aggregator: metric.aggregator, values });
  }
  return out;
}
