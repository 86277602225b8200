/**
 * What the bench commands share: the load generator as a child process (and its `--client`
 * option), and CPU seconds of a process from /proc.
 */
import { execFileSync, spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import { join } from 'node:path';
import { ROOT } from '../test/support/broker-harness.js';
import type { LoadClient, LoadOptions, LoadResult } from './load-generator.js';
import { runNativeWrk } from './native-wrk.js';

const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  // utime and stime are fields 14 and 15 of /proc/pid/stat (here 12 and 13 after the comm).
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/** The process's peak resident set (VmHWM), in MB. */
export function peakRssMb(pid: number): number {
  return statusMb(pid, 'VmHWM');
}

/**
 * Starts the process's VmHWM over from its current RSS (`5` to /proc/PID/clear_refs,
 * Linux ≥ 4.0, same user): the peak of one phase. False where the kernel refuses.
 */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** The process's resident set now (VmRSS), in MB. */
export function rssMb(pid: number): number {
  return statusMb(pid, 'VmRSS');
}

function statusMb(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  const match = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Math.round(Number(match[1]) / 1024) : 0;
}

/**
 * CPU seconds of each thread of a process, summed by thread name (`MainThread`, `mb-ingest`,
 * `V8Worker`, …): which thread a message's CPU goes to.
 */
export function threadCpuSeconds(pid: number): Map<string, number> {
  const byName = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      byName.set(name, (byName.get(name) ?? 0) + (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS);
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return byName;
}

/** CPU seconds of every process with this command name (e.g. `mariadbd`), or 0 when none runs. */
export function processCpuSeconds(command: string): number {
  let total = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === command) total += cpuSeconds(Number(pid));
    } catch {
      // Gone meanwhile.
    }
  }
  return total;
}

/** `--client wrk|wrk-c|undici` from a bench command's arguments: which HTTP client the load generator uses (wrk, the lean Node one, when absent). */
export function loadClientOption(argv: string[]): LoadClient {
  const i = argv.indexOf('--client');
  const value = i >= 0 ? argv[i + 1] : 'wrk';
  if (value !== 'wrk' && value !== 'undici' && value !== 'wrk-c') {
    throw new Error(`--client must be wrk, wrk-c or undici, not ${value}`);
  }
  return value;
}

export function runLoad(options: LoadOptions): Promise<LoadResult> {
  if (options.client === 'wrk-c') return runNativeWrk(options);
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [join(ROOT, 'node_modules/tsx/dist/cli.mjs'), join(ROOT, 'bench/load-generator.ts'), JSON.stringify(options)],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.once('exit', (code) =>
      code === 0 ? resolve(JSON.parse(out) as LoadResult) : reject(new Error(`load generator exited with ${code}`)),
    );
  });
}

/**
 * Each thread's V8 heap (`used` or `total`, i.e. committed) and external memory in MB, from
 * the broker's /metrics (loopback scrape: no client certificate), keyed `<thread>_heap` and
 * `<thread>_external`.
 */
export async function memoryByThread(
  url: string,
  ca: string,
  heap: 'used' | 'total',
  decimals = 0,
): Promise<Record<string, number>> {
  const text = await scrapeText(url, ca);
  const scale = 10 ** decimals;
  const heapMetric = `heap_size_${heap}`;
  const out: Record<string, number> = {};
  for (const match of text.matchAll(
    /^nodejs_(heap_size_used|heap_size_total|external_memory)_bytes(?:\{([^}]*)\})? (\S+)$/gm,
  )) {
    if (match[1] !== heapMetric && match[1] !== 'external_memory') continue;
    const thread = /thread="([^"]+)"/.exec(match[2] ?? '')?.[1] ?? 'main';
    out[`${thread}_${match[1] === heapMetric ? 'heap' : 'external'}`] =
      Math.round((Number(match[3]) / 1048576) * scale) / scale;
  }
  return out;
}

/** The broker's /metrics text (loopback scrape: no client certificate). */
function scrapeText(url: string, ca: string): Promise<string> {
  return getText(`${url}/metrics`, ca);
}

/**
 * Waits until the broker has parked its on-demand actors (CA and encryption,
 * `actors.idle_stop_ms` after their last request: the start's), as they are in steady
 * operation on the store path; seconds waited, or undefined if they were not within
 * `timeoutMs` (then the figures include running actors).
 */
export async function waitForParkedActors(url: string, ca: string, timeoutMs: number): Promise<number | undefined> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    const health = JSON.parse(await getText(`${url}/api/v1/health`, ca).catch(() => '{}')) as {
      components?: Record<string, { state?: string }>;
    };
    const states = ['actor_ca', 'actor_encryption'].map((name) => health.components?.[name]?.state);
    if (states.every((state) => state === 'idle')) return (Date.now() - started) / 1000;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  return undefined;
}

function getText(url: string, ca: string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    httpsGet(url, { ca }, (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

/** An unlabelled histogram's cumulative buckets from /metrics: [upper bound, count], +Inf last. */
export async function histogramBuckets(url: string, ca: string, name: string): Promise<Array<[number, number]>> {
  const text = await scrapeText(url, ca);
  const buckets: Array<[number, number]> = [];
  for (const match of text.matchAll(new RegExp(`^${name}_bucket\\{le="([^"]+)"\\} (\\S+)$`, 'gm')))
    buckets.push([match[1] === '+Inf' ? Number.POSITIVE_INFINITY : Number(match[1]), Number(match[2])]);
  return buckets;
}

/** An unlabelled histogram's `_sum` and `_count` from /metrics (0 when absent). */
export async function histogramTotals(url: string, ca: string, name: string): Promise<{ sum: number; count: number }> {
  const text = await scrapeText(url, ca);
  const read = (suffix: string) => Number(new RegExp(`^${name}_${suffix} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
  return { sum: read('sum'), count: read('count') };
}

/**
 * The quantiles of what a histogram counted between two readings, as the upper bound of
 * the bucket each falls in (ms; Infinity past the last bound).
 */
export function bucketQuantilesMs(
  before: Array<[number, number]>,
  after: Array<[number, number]>,
  quantiles: number[],
): Record<string, number> {
  const counts = after.map(([le, n], i) => [le, n - (before[i]?.[1] ?? 0)] as const);
  const total = counts.at(-1)?.[1] ?? 0;
  const out: Record<string, number> = { count: total };
  for (const q of quantiles) {
    const hit = counts.find(([, n]) => n >= q * total);
    out[`p${Math.round(q * 100)}_at_most`] = hit ? hit[0] * 1000 : Number.NaN;
  }
  return out;
}

/** `--set a.b=1 --set c=x` → `{a: {b: 1}, c: 'x'}` (numbers and booleans parsed). */
export function configOverrides(argv: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  argv.forEach((arg, i) => {
    const setting = arg === '--set' ? argv[i + 1] : arg.startsWith('--set=') ? arg.slice(6) : undefined;
    if (setting === undefined) return;
    const [path = '', raw = ''] = setting.split('=');
    const keys = path.split('.');
    let node = out;
    for (const key of keys.slice(0, -1)) node = (node[key] ??= {}) as Record<string, unknown>;
    const value = raw === 'true' ? true : raw === 'false' ? false : Number.isNaN(Number(raw)) ? raw : Number(raw);
    node[keys.at(-1)!] = value;
  });
  return out;
}
