/**
 * The broker's own counters, gauges and histograms: plain objects, one list per thread.
 *
 * Why not prom-client's classes: they hash the label set on every `inc`/`observe`
 * (≈1 µs each on our 2-core host, four per accepted message: ~5% of a request), and
 * loading prom-client takes an actor 100–250 ms under load — on the path of its restart.
 * Here each label set is a handle the caller keeps, counting is a field increment, and
 * nothing is formatted until /metrics is read; prom-client is loaded after the actor is
 * ready (registry-snapshot.ts) and still does the merging and the text format.
 */
import type { MetricFamily, MetricSample } from './metric-families.js';

const families: Array<Family<Series>> = [];

/** This thread's families, read now (gauges with a `collect` are refreshed first). */
export function readFastFamilies(): MetricFamily[] {
  return families.map((f) => f.read());
}

interface Series {
  labels: Readonly<Record<string, string>>;
}

/** One number: a counter's total or a gauge's reading. */
class ValueSeries implements Series {
  value = 0;
  constructor(readonly labels: Readonly<Record<string, string>>) {}
}

export class CounterSeries extends ValueSeries {
  inc(by = 1): void {
    this.value += by;
  }
}

export class GaugeSeries extends ValueSeries {
  set(value: number): void {
    this.value = value;
  }
}

export class HistogramSeries implements Series {
  /** Per-bucket (not cumulative) counts; the last slot is +Inf. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(
    readonly labels: Readonly<Record<string, string>>,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    this.sum += value;
    this.count++;
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    this.counts[i]!++;
  }
}

abstract class Family<S extends Series> {
  abstract readonly type: MetricFamily['type'];
  protected readonly all = new Map<string, S>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelNames: readonly string[] = [],
  ) {
    if (families.some((f) => f.name === name)) throw new Error(`metric ${name} is defined twice in this thread`);
    families.push(this as unknown as Family<Series>);
  }

  /** The handle of one label set (values in `labelNames` order): look it up once, keep it. */
  series(...values: string[]): S {
    const key = values.join('\u0000');
    let series = this.all.get(key);
    if (!series) {
      const labels: Record<string, string> = {};
      this.labelNames.forEach((name, i) => {
        labels[name] = values[i] ?? '';
      });
      this.all.set(key, (series = this.create(labels)));
    }
    return series;
  }

  /** Forgets every label set (a gauge whose set of series is re-read, e.g. certificates). */
  clear(): void {
    this.all.clear();
  }

  read(): MetricFamily {
    const values: MetricSample[] = [];
    for (const series of this.all.values()) this.samples(series, values);
    return { name: this.name, help: this.help, type: this.type, aggregator: 'sum', values };
  }

  protected abstract create(labels: Record<string, string>): S;
  protected abstract samples(series: S, into: MetricSample[]): void;
}

abstract class ValueFamily<S extends ValueSeries> extends Family<S> {
  protected samples(series: S, into: MetricSample[]): void {
    into.push({ value: series.value, labels: { ...series.labels } });
  }
}

export class CounterFamily extends ValueFamily<CounterSeries> {
  readonly type = 'counter';

  protected create(labels: Record<string, string>): CounterSeries {
    return new CounterSeries(labels);
  }
}

export class GaugeFamily extends ValueFamily<GaugeSeries> {
  readonly type = 'gauge';

  /** `collect` runs before each reading (values that are cheaper to read than to track). */
  constructor(
    name: string,
    help: string,
    labelNames: readonly string[] = [],
    private readonly collect?: (family: GaugeFamily) => void,
  ) {
    super(name, help, labelNames);
  }

  override read(): MetricFamily {
    this.collect?.(this);
    return super.read();
  }

  protected create(labels: Record<string, string>): GaugeSeries {
    return new GaugeSeries(labels);
  }
}

export class HistogramFamily extends Family<HistogramSeries> {
  readonly type = 'histogram';

  constructor(
    name: string,
    help: string,
    labelNames: readonly string[],
    private readonly bounds: readonly number[],
  ) {
    super(name, help, labelNames);
  }

  protected create(labels: Record<string, string>): HistogramSeries {
    return new HistogramSeries(labels, this.bounds);
  }

  protected samples(series: HistogramSeries, into: MetricSample[]): void {
    let cumulative = 0;
    this.bounds.forEach((bound, i) => {
      cumulative += series.counts[i]!;
      into.push({ value: cumulative, labels: { le: bound, ...series.labels }, metricName: `${this.name}_bucket` });
    });
    into.push({ value: series.count, labels: { le: '+Inf', ...series.labels }, metricName: `${this.name}_bucket` });
    into.push({ value: series.sum, labels: { ...series.labels }, metricName: `${this.name}_sum` });
    into.push({ value: series.count, labels: { ...series.labels }, metricName: `${this.name}_count` });
  }
}
