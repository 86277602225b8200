/**
 * `npx tsx bench/front-cost.ts [--seconds 10 --connections 50 --rounds 1]`
 *
 * The front's own CPU per submitted message, without TLS, Redis or the other actors: the
 * real `buildServer()` (hooks, schema, identity per socket, the submit route, metrics, the
 * reply) over plain HTTP, the real IngestClient and RpcPeer handing requests to a worker
 * that answers each one at once as queued. `wrk` (a C load generator, in its own process)
 * posts the bench's 160-character message on keep-alive connections; the figure is this
 * thread's `process.threadCpuUsage()` per 1,000 answered requests. TLS, the socket writes
 * and HTTP parsing cost the same as in `npm run bench:floor`; what differs between two
 * builds of the front shows here with far less noise than in the full bench.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { IngestClient } from '../src/actors/ingest/ingest.client.js';
import type { IngestProtocol } from '../src/actors/ingest/ingest.protocol.js';
import { loadConfig } from '../src/config/config.js';
import { LiveConfig } from '../src/config/live-config.js';
import type { HealthService } from '../src/health/health.service.js';
import { IdentityResolver } from '../src/http/client-identity.js';
import { buildServer } from '../src/http/server.js';
import { createLogger } from '../src/logger.js';
import { RpcPeer } from '../src/rpc/rpc-peer.js';

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const ACTOR = `
const { parentPort } = require('node:worker_threads');
let position = 0;
parentPort.on('message', (m) => {
  if (m.kind !== 'req') return;
  const results = m.payload.requests.map((r) => ({ ok: true, kind: 'done', positions: r.messages.map(() => ++position), rate: null, quota: null }));
  parentPort.postMessage({ kind: 'res', id: m.id, ok: true, value: { results } });
});`;

async function main(): Promise<void> {
  const seconds = option('seconds', 10);
  const connections = option('connections', 50);
  const rounds = option('rounds', 1);
  const config = loadConfig({ values: { domains: [{ name: 'default' }], log: { level: 'warn' } }, env: {} });
  const worker = new Worker(ACTOR, { eval: true });
  const day = 86_400_000;
  const row = {
    serial: '01',
    fingerprint: 'ab',
    cert_status: 'active' as const,
    not_before: new Date(Date.now() - day),
    not_after: new Date(Date.now() + day),
    client_id: 1,
    client_name: 'bench',
    domain: 'default',
    client_status: 'active' as const,
  };
  const app = buildServer({
    config: new LiveConfig(config),
    logger: createLogger('warn'),
    identity: new IdentityResolver(
      async () => row,
      60_000,
      () => ({ present: true, authorized: true, fingerprint: 'ab', commonName: 'bench.default' }),
    ),
    ingest: new IngestClient(new RpcPeer<IngestProtocol>({ peerName: 'ingest' }, worker), 500, 10_000),
    redis: {} as never,
    messages: {} as never,
    health: { readiness: async () => ({ ready: true, reasons: [] }) } as unknown as HealthService,
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const port = (app.server.address() as AddressInfo).port;
  if (process.argv.includes('--serve')) {
    // Driven by `--compare`: say where, then serve until told to stop.
    process.stdout.write(`${port}\n`);
    process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
    return;
  }
  const figures: number[] = [];
  for (let round = 0; round < rounds + 1; round++) {
    const before = process.threadCpuUsage();
    const requests = await load(port, round === 0 ? 3 : seconds, connections);
    const cpu = process.threadCpuUsage(before);
    const perThousand = ((cpu.user + cpu.system) / 1e6 / requests) * 1000;
    if (round > 0) figures.push(perThousand); // round 0 warms up (JIT)
    process.stderr.write(
      `${round === 0 ? 'warm-up' : `round ${round}`}: ${requests} requests, main thread ${(perThousand * 1000).toFixed(1)} µs each\n`,
    );
  }
  process.stdout.write(
    `${JSON.stringify({ main_cpu_s_per_1000: figures.map((f) => Number(f.toFixed(4))), median: median(figures) })}\n`,
  );
  await app.close();
  await worker.terminate();
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1]!;
}

/** Posts the bench's message for `seconds` on `connections` keep-alive connections; resolves the 2xx answers. */
async function load(port: number, seconds: number, connections: number): Promise<number> {
  const body = JSON.stringify({ sender_number: '+14155550123', message_body: 'x'.repeat(160) });
  const script = join(tmpdir(), `front-cost-${process.pid}.lua`);
  writeFileSync(
    script,
    `wrk.method = "POST"\nwrk.body = '${body}'\nwrk.headers["Content-Type"] = "application/json"\n` +
      'function done(summary, latency, requests)\n  io.write(string.format("RESULT %d %d\\n", summary.requests, summary.errors.status))\nend\n',
  );
  const output = await new Promise<string>((resolve, reject) => {
    const wrk = spawn('wrk', [
      '-t1',
      `-c${connections}`,
      `-d${seconds}s`,
      '-s',
      script,
      `http://127.0.0.1:${port}/api/v1/messages`,
    ]);
    let text = '';
    wrk.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
    wrk.once('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`wrk exited ${code}: ${text}`))));
  });
  const [, requests, bad] = /RESULT (\d+) (\d+)/.exec(output)!.map(Number) as [number, number, number];
  if (bad > 0) throw new Error(`${bad} answers were not 2xx`);
  return requests;
}

/** The main thread's CPU seconds so far (utime + stime of /proc/<pid>/task/<pid>/stat, 100 ticks a second). */
function mainThreadCpu(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/**
 * `--compare A B`: the same server from two checkouts (each with node_modules), loaded in
 * turn — A then B, then B then A — so both see the same neighbours on a shared box.
 */
async function compare(roots: [string, string]): Promise<void> {
  const seconds = option('seconds', 4);
  const connections = option('connections', 50);
  const rounds = option('rounds', 6);
  const servers = await Promise.all(
    roots.map(async (root) => {
      const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'bench/front-cost.ts'), '--serve'], {
        cwd: root,
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const port = await new Promise<number>((resolve, reject) => {
        child.stdout.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim())));
        child.once('exit', (code) => reject(new Error(`${root}: server exited with ${code}`)));
      });
      return { root, child, port, figures: [] as number[] };
    }),
  );
  try {
    for (const server of servers) await load(server.port, 3, connections); // JIT warm-up
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? servers : [...servers].reverse();
      for (const server of order) {
        const before = mainThreadCpu(server.child.pid!);
        const requests = await load(server.port, seconds, connections);
        server.figures.push(((mainThreadCpu(server.child.pid!) - before) / requests) * 1000);
      }
      process.stderr.write(
        `round ${round + 1}: ${servers.map((s) => `${s.root} ${(s.figures.at(-1)! * 1000).toFixed(1)} µs`).join(', ')}\n`,
      );
    }
    const [a, b] = servers.map((s) => median(s.figures)) as [number, number];
    const pairs = servers[0]!.figures.map((f, i) => servers[1]!.figures[i]! / f);
    process.stdout.write(
      `${JSON.stringify({ a: { root: roots[0], median_ms: a }, b: { root: roots[1], median_ms: b }, ratio_of_medians: b / a, median_pair_ratio: median(pairs), pair_ratios: pairs.map((r) => Number(r.toFixed(3))) })}\n`,
    );
  } finally {
    for (const server of servers) server.child.kill('SIGTERM');
  }
}

const compareAt = process.argv.indexOf('--compare');
void (compareAt >= 0 ? compare([process.argv[compareAt + 1]!, process.argv[compareAt + 2]!]) : main()).catch(
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
