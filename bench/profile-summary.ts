/**
 * `npx tsx bench/profile-summary.ts DIR [--top 25]`: where the CPU went, from the V8
 * profiles `npm run bench -- --cpu-prof DIR` wrote (one file per thread: the main
 * thread, then each worker in the order they started).
 *
 * For each thread: the busy time (samples that were not idle), the self time grouped by
 * package or source file, and the hottest functions. Self time is what a function spent
 * in its own code, so the groups add up to the busy time.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

// (program) is native work V8 cannot attribute to a JS frame (TLS record crypto, syscalls): busy, not idle.
const IDLE = new Set(['(idle)']);

/** `node_modules/fastify/lib/x.js` → `fastify`; `dist/http/server.js` → `dist/http/server.js`; `node:tls` → `node:tls`. */
function groupOf(url: string, name: string): string {
  if (!url) return name.startsWith('(') ? name : '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  const own = /\/(dist|src)\/(.+)$/.exec(url);
  if (own) return `${own[1]}/${own[2]}`;
  return url.replace(/^file:\/\//, '');
}

function summarise(file: string, top: number): string {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfByNode = new Map<number, number>();
  profile.samples.forEach((id, i) => {
    selfByNode.set(id, (selfByNode.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  const groups = new Map<string, number>();
  const functions = new Map<string, number>();
  let busy = 0;
  let gc = 0;
  for (const [id, micros] of selfByNode) {
    const frame = byId.get(id)!.callFrame;
    if (frame.functionName === '(garbage collector)') gc += micros;
    if (IDLE.has(frame.functionName)) continue;
    busy += micros;
    const group = groupOf(frame.url, frame.functionName);
    groups.set(group, (groups.get(group) ?? 0) + micros);
    const fn = `${frame.functionName || '(anonymous)'} ${group}:${frame.lineNumber + 1}`;
    functions.set(fn, (functions.get(fn) ?? 0) + micros);
  }
  const wall = (profile.endTime - profile.startTime) / 1e6;
  const lines = [
    `== ${file.split('/').pop()}: wall ${wall.toFixed(1)} s, busy ${(busy / 1e6).toFixed(2)} s (gc ${(gc / 1e6).toFixed(2)} s)`,
  ];
  const table = (title: string, rows: Map<string, number>) => {
    lines.push(`  ${title}`);
    for (const [name, micros] of [...rows].sort((a, b) => b[1] - a[1]).slice(0, top)) {
      lines.push(
        `    ${((micros / Math.max(1, busy)) * 100).toFixed(1).padStart(5)}%  ${(micros / 1e6).toFixed(2).padStart(6)} s  ${name}`,
      );
    }
  };
  table('by package / file (self time)', groups);
  table('hottest functions (self time)', functions);
  return lines.join('\n');
}

const dir = process.argv[2];
if (!dir) {
  process.stderr.write('usage: tsx bench/profile-summary.ts DIR [--top N]\n');
  process.exit(2);
}
const topIndex = process.argv.indexOf('--top');
const top = topIndex > 0 ? Number(process.argv[topIndex + 1]) : 20;
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.cpuprofile'))
  .sort();
process.stdout.write(`${files.map((f) => summarise(join(dir, f), top)).join('\n\n')}\n`);
