/**
 * `npx tsx bench/front-ab.ts ROOT_A ROOT_B [--rounds 40 --batch 50 --per-round 1000]`
 *
 * The front's CPU per submitted message in two checkouts (each with its node_modules), in
 * ONE process, alternating short rounds: A, B, B, A, … so that both see the same neighbours
 * on a shared box (back-to-back runs of `bench/front-cost.ts` differ by ±25 % between two
 * identical builds; this by a few per cent). Each checkout's real `buildServer()` (hooks,
 * schema, identity, the submit route, metrics, the 202) answers `inject()`ed requests —
 * no socket, no TLS, no HTTP parsing: those cost the same in both — with its own real
 * IngestClient and RpcPeer handing the requests to a worker that answers each at once.
 * `--batch` requests are in flight together (they reach the worker as one hand-off, as
 * under load). Prints each checkout's median µs of this thread's CPU per request and the
 * median of the per-pair ratios B/A.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const ACTOR = `
const { parentPort } = require('node:worker_threads');
let position = 0;
parentPort.on('message', (m) => {
  if (m.kind !== 'req') return;
  const requests = Array.isArray(m.payload) ? m.payload : m.payload.requests;
  const results = requests.map((r) => ({ ok: true, kind: 'done', positions: (Array.isArray(r) ? r[r.length - 1] : r.messages).map(() => ++position), rate: null, quota: null }));
  parentPort.postMessage({ kind: 'res', id: m.id, ok: true, value: { results } });
});`;

interface Front {
  root: string;
  post: () => Promise<{ statusCode: number }>;
  port: number;
  figures: number[];
}

async function front(root: string): Promise<Front> {
  const load = <T>(path: string): Promise<T> => import(join(root, path)) as Promise<T>;
  const { loadConfig } = await load<typeof import('../src/config/config.js')>('src/config/config.ts');
  const { LiveConfig } = await load<typeof import('../src/config/live-config.js')>('src/config/live-config.ts');
  const { IdentityResolver } =
    await load<typeof import('../src/http/client-identity.js')>('src/http/client-identity.ts');
  const { buildServer } = await load<typeof import('../src/http/server.js')>('src/http/server.ts');
  const { createLogger } = await load<typeof import('../src/logger.js')>('src/logger.ts');
  const { RpcPeer } = await load<typeof import('../src/rpc/rpc-peer.js')>('src/rpc/rpc-peer.ts');
  const { IngestClient } = await load<typeof import('../src/actors/ingest/ingest.client.js')>(
    'src/actors/ingest/ingest.client.ts',
  );
  const config = loadConfig({ values: { domains: [{ name: 'default' }], log: { level: 'warn' } }, env: {} });
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
    ingest: new IngestClient(
      new RpcPeer({ peerName: 'ingest' }, new Worker(ACTOR, { eval: true })) as never,
      500,
      10_000,
    ),
    redis: {} as never,
    messages: {} as never,
    health: { readiness: async () => ({ ready: true, reasons: [] }) } as never,
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const payload = JSON.stringify({ sender_number: '+14155550123', message_body: 'x'.repeat(160) });
  return {
    root,
    figures: [],
    port: (app.server.address() as AddressInfo).port,
    post: () =>
      app.inject({ method: 'POST', url: '/api/v1/messages', payload, headers: { 'content-type': 'application/json' } }),
  };
}

async function round(f: Front, requests: number, batch: number): Promise<number> {
  if (HTTP) return httpRound(f);
  const before = process.threadCpuUsage();
  for (let sent = 0; sent < requests; sent += batch) {
    const answers = await Promise.all(Array.from({ length: batch }, () => f.post()));
    if (answers.some((a) => a.statusCode !== 202)) throw new Error(`${f.root}: not 202: ${answers[0]!.statusCode}`);
  }
  const cpu = process.threadCpuUsage(before);
  return (cpu.user + cpu.system) / requests;
}

const HTTP = process.argv.includes('--http');
const SCRIPT = join(tmpdir(), `front-ab-${process.pid}.lua`);

/**
 * `--http`: `wrk` (C, its own process) posts the same message on keep-alive connections to
 * the checkout's listening server for `--seconds`: real sockets (the identity kept on the
 * connection), HTTP parsing and socket writes included; CPU per answered request.
 */
async function httpRound(f: Front): Promise<number> {
  const seconds = option('seconds', 1);
  const connections = option('connections', 50);
  const before = process.threadCpuUsage();
  const output = await new Promise<string>((resolve, reject) => {
    const wrk = spawn('wrk', [
      '-t1',
      `-c${connections}`,
      `-d${seconds}s`,
      '-s',
      SCRIPT,
      `http://127.0.0.1:${f.port}/api/v1/messages`,
    ]);
    let text = '';
    wrk.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
    wrk.once('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`wrk exited ${code}: ${text}`))));
  });
  const cpu = process.threadCpuUsage(before);
  const [, requests, bad] = /RESULT (\d+) (\d+)/.exec(output)!.map(Number) as [number, number, number];
  if (bad > 0) throw new Error(`${f.root}: ${bad} answers were not 2xx`);
  return (cpu.user + cpu.system) / requests;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1]!;
}

async function main(): Promise<void> {
  const roots = process.argv.slice(2, 4);
  const rounds = option('rounds', 40);
  const batch = option('batch', 50);
  const perRound = option('per-round', 1000);
  const body = JSON.stringify({ sender_number: '+14155550123', message_body: 'x'.repeat(160) });
  writeFileSync(
    SCRIPT,
    `wrk.method = "POST"\nwrk.body = '${body}'\nwrk.headers["Content-Type"] = "application/json"\n` +
      'function done(summary, latency, requests)\n  io.write(string.format("RESULT %d %d\\n", summary.requests, summary.errors.status))\nend\n',
  );
  const fronts = [await front(roots[0]!), await front(roots[1]!)];
  for (const f of fronts) for (let i = 0; i < (HTTP ? 2 : 5); i++) await round(f, perRound, batch); // JIT warm-up
  for (let r = 0; r < rounds; r++) {
    for (const f of r % 2 === 0 ? fronts : [...fronts].reverse()) f.figures.push(await round(f, perRound, batch));
  }
  const [a, b] = fronts as [Front, Front];
  const ratios = a.figures.map((x, i) => b.figures[i]! / x);
  process.stdout.write(
    `${JSON.stringify({
      a: { root: a.root, median_us: Number(median(a.figures).toFixed(2)) },
      b: { root: b.root, median_us: Number(median(b.figures).toFixed(2)) },
      median_pair_ratio: Number(median(ratios).toFixed(3)),
      ...(HTTP ? { http: true, seconds: option('seconds', 1) } : { batch, requests_per_round: perRound }),
      rounds,
    })}\n`,
  );
  process.exit(0);
}

void main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
