/** Reads a broker's /metrics (Prometheus text format) for assertions. */
import { request, type Agent } from 'undici';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export class Exposition {
  readonly samples: Sample[] = [];
  /** Family name → type, from the `# TYPE` lines. */
  readonly types = new Map<string, string>();

  constructor(readonly text: string) {
    for (const line of text.split('\n')) {
      const type = /^# TYPE (\S+) (\S+)$/.exec(line);
      if (type) this.types.set(type[1]!, type[2]!);
      if (line === '' || line.startsWith('#')) continue;
      const match = /^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
      if (!match) throw new Error(`not an exposition line: ${line}`);
      const labels: Record<string, string> = {};
      for (const [, key, value] of (match[2] ?? '').matchAll(/([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
        labels[key!] = value!;
      this.samples.push({ name: match[1]!, labels, value: Number(match[3]) });
    }
  }

  /** Sum of the samples of `name` whose labels include `labels`. */
  value(name: string, labels: Record<string, string> = {}): number {
    return this.samples
      .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
      .reduce((sum, s) => sum + s.value, 0);
  }

  /** Every sample of every counter family (histogram buckets, sums and counts included). */
  monotonic(): Sample[] {
    const counters = [...this.types].filter(([, t]) => t === 'counter' || t === 'histogram').map(([n]) => n);
    return this.samples.filter((s) => counters.some((n) => s.name === n || s.name.startsWith(`${n}_`)));
  }

  /** Names a query may use: every sample name, and every declared family (a histogram's _bucket/_sum/_count) even before its first sample. */
  names(): Set<string> {
    const names = new Set(this.samples.map((s) => s.name));
    for (const [family, type] of this.types) {
      names.add(family);
      if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(family + suffix);
    }
    return names;
  }
}

export function sampleId(sample: Sample): string {
  return `${sample.name}{${Object.entries(sample.labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}="${v}"`)
    .join(',')}}`;
}

export async function scrapeMetrics(agent: Agent, url: string): Promise<Exposition> {
  const response = await request(`${url}/metrics`, { dispatcher: agent });
  const text = await response.body.text();
  if (response.statusCode !== 200) throw new Error(`/metrics answered ${response.statusCode}: ${text}`);
  return new Exposition(text);
}
