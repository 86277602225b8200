/**
 * `npx tsx bench/idle-memory.ts [--wait 10 --set a.b=N --env NAME=VALUE --node-args "--flag"]`
 *
 * Where an idle broker's resident memory goes. Starts the broker as `npm run bench` does
 * (the real supervisor, a redis-server of its own, a database of its own), waits `--wait`
 * seconds after it listens (default 10), and prints: RSS and peak RSS, the anonymous and
 * file-backed parts (/proc/PID/status), the RSS of glibc's malloc arenas (the 64 MB
 * reservations each thread that mallocs may get, from /proc/PID/smaps), the threads by
 * name, and each isolate's V8 heap (used / total, per space) and external memory from
 * the loopback /metrics. `--env MALLOC_ARENA_MAX=2` (repeatable) sets the broker's
 * environment, to compare allocator settings.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import { join } from 'node:path';
import { BrokerProcess, createWorkspace, deepMerge } from '../test/support/broker-harness.js';
import { TestRedisServer } from '../test/support/redis-server.js';
import { peakRssMb } from './bench-support.js';

const MB = 1024 * 1024;
/** glibc's non-main arenas are reserved 64 MB at a time, aligned to their size (HEAP_MAX_SIZE on 64-bit). */
const ARENA_BYTES = 64 * MB;

function option(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
}

function repeated(argv: string[], name: string): string[] {
  return argv.flatMap((arg, i) => (arg === `--${name}` && argv[i + 1] !== undefined ? [argv[i + 1]!] : []));
}

/** `--set a.b=1` → `{a: {b: 1}}` (numbers and booleans parsed), as bench.ts takes it. */
function overrides(argv: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const pair of repeated(argv, 'set')) {
    const [path = '', raw = ''] = pair.split('=');
    const keys = path.split('.');
    let node = out;
    for (const key of keys.slice(0, -1)) node = (node[key] ??= {}) as Record<string, unknown>;
    node[keys.at(-1)!] =
      raw === 'true' ? true : raw === 'false' ? false : Number.isNaN(Number(raw)) ? raw : Number(raw);
  }
  return out;
}

function statusKb(pid: number, field: string): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) : 0;
}

/**
 * RSS (MB) of the mappings that look like malloc arenas: an anonymous read-write mapping
 * that starts on a 64 MB boundary with its reserved rest (---p) right after it, the pair
 * 64 MB long. V8's own reservations are 256 KB-aligned and rarely look like that.
 */
function arenaRssMb(pid: number): { arenas: number; rss_mb: number } {
  const lines = readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n');
  const maps: Array<{ start: bigint; end: bigint; perms: string; path: string; rssKb: number }> = [];
  for (const line of lines) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      maps.push({
        start: BigInt(`0x${head[1]}`),
        end: BigInt(`0x${head[2]}`),
        perms: head[3]!,
        path: head[4]!,
        rssKb: 0,
      });
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss && maps.length > 0) maps.at(-1)!.rssKb = Number(rss[1]);
  }
  let arenas = 0;
  let rssKb = 0;
  const size = BigInt(ARENA_BYTES);
  for (let i = 0; i < maps.length; i++) {
    const map = maps[i]!;
    if (map.path !== '' || !map.perms.startsWith('rw') || map.start % size !== 0n) continue;
    const next = maps[i + 1];
    const end = next && next.start === map.end && next.perms.startsWith('---') ? next.end : map.end;
    if (end - map.start !== size) continue;
    arenas++;
    rssKb += map.rssKb;
  }
  return { arenas, rss_mb: Math.round(rssKb / 1024) };
}

function threadNames(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const name = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
      out[name] = (out[name] ?? 0) + 1;
    } catch {
      // Gone meanwhile.
    }
  }
  return out;
}

function scrape(url: string, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    httpsGet(`${url}/metrics`, { ca }, (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

/** Per thread: V8 heap used / total, external, and the used size of each heap space (MB, one decimal). */
function heapsByThread(text: string): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  const mb = (v: string) => Math.round((Number(v) / MB) * 10) / 10;
  const pattern =
    /^nodejs_(heap_size_used|heap_size_total|external_memory|heap_space_size_used)_bytes(?:\{([^}]*)\})? (\S+)$/gm;
  for (const match of text.matchAll(pattern)) {
    const labels = match[2] ?? '';
    const thread = /thread="([^"]+)"/.exec(labels)?.[1] ?? 'main';
    const space = /space="([^"]+)"/.exec(labels)?.[1];
    const key = match[1] === 'heap_space_size_used' ? `space_${space}` : match[1]!;
    (out[thread] ??= {})[key] = mb(match[3]!);
  }
  return out;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const waitS = Number(option(argv, 'wait') ?? 10);
  const env = Object.fromEntries(repeated(argv, 'env').map((pair) => pair.split('=') as [string, string]));
  const nodeArgs = option(argv, 'node-args')?.split(' ').filter(Boolean) ?? [];
  const redis = await TestRedisServer.create();
  const workspace = await createWorkspace(deepMerge({ log: { level: 'warn' } }, overrides(argv)), redis.url);
  const broker = new BrokerProcess(workspace, env, nodeArgs);
  try {
    const starting = broker.start();
    const pid = broker.child!.pid!;
    // RSS every 10 ms while the broker starts: a peak there (first start's key generation,
    // the admin's password hash) is part of every bench's peak RSS.
    const timeline: Array<[number, number]> = [];
    const began = Date.now();
    const sampler = setInterval(() => {
      try {
        const rss = Math.round(statusKb(pid, 'VmRSS') / 1024);
        if (timeline.length === 0 || Math.abs(rss - timeline.at(-1)![1]) >= 10)
          timeline.push([Date.now() - began, rss]);
      } catch {
        // Between the re-exec's two images.
      }
    }, 10);
    await starting;
    const listeningMs = Date.now() - began;
    await new Promise((r) => setTimeout(r, waitS * 1000));
    clearInterval(sampler);
    const ca = readFileSync(join(workspace.dir, 'certs/clients/demo.default/ca.crt'), 'utf8');
    const heaps = heapsByThread(await scrape(broker.url, ca));
    const summary = {
      options: { wait_s: waitS, env, node_args: nodeArgs, set: overrides(argv) },
      listening_after_ms: listeningMs,
      rss_timeline_ms_mb: timeline.map(([ms, mb]) => `${ms}:${mb}`).join(' '),
      rss_mb: Math.round(statusKb(pid, 'VmRSS') / 1024),
      peak_rss_mb: peakRssMb(pid),
      rss_anon_mb: Math.round(statusKb(pid, 'RssAnon') / 1024),
      rss_file_mb: Math.round(statusKb(pid, 'RssFile') / 1024),
      malloc_arenas: arenaRssMb(pid),
      threads: threadNames(pid),
      heaps_mb: heaps,
      heap_total_mb: Math.round(Object.values(heaps).reduce((sum, h) => sum + (h.heap_size_total ?? 0), 0)),
      external_mb: Math.round(Object.values(heaps).reduce((sum, h) => sum + (h.external_memory ?? 0), 0)),
    };
    process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  } finally {
    await broker.kill('SIGTERM');
    await workspace.cleanup();
    await redis.destroy();
  }
}

await main();
