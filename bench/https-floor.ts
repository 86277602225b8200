/**
 * `npm run bench:floor [-- --connections 50 --duration 20 --size 160 --client wrk|wrk-c|undici --reconnect]`
 *
 * The ceiling of this box for the broker's kind of traffic: the same load generator as
 * `npm run bench`, against a bare `node:https` mTLS server that parses the JSON and answers
 * 202 (bench/https-floor-server.ts). Prints requests/s and the CPU per request of the
 * server and of the load generator. Whatever the broker costs beyond the server's figure
 * is the broker's own work; what the two processes take together bounds any Node HTTPS
 * service measured with this load generator on this box. `--reconnect`: a new TLS
 * connection per request (resumed sessions), the floor of `npm run bench -- --reconnect`.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCa } from '../src/pki/ca.js';
import { issueClientCertificate, issueServerCertificate } from '../src/pki/issue.js';
import { ROOT } from '../test/support/broker-harness.js';
import { cpuSeconds, loadClientOption, runLoad } from './bench-support.js';

function option(argv: string[], name: string, fallback: number): number {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : fallback;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const connections = option(argv, 'connections', 50);
  const duration = option(argv, 'duration', 20);
  const size = option(argv, 'size', 160);
  const loadClient = loadClientOption(argv);
  const reconnect = argv.includes('--reconnect');
  const ca = createCa({ commonName: 'Floor Bench CA', days: 1 });
  const server = issueServerCertificate(ca, {
    commonName: 'localhost',
    hostnames: ['localhost', '127.0.0.1'],
    days: 1,
  });
  const client = issueClientCertificate(ca, { commonName: 'floor.default', days: 1 });
  const scratch = mkdtempSync(join(tmpdir(), 'mb-floor-'));
  const files = { cert: join(scratch, 'client.crt'), key: join(scratch, 'client.key'), ca: join(scratch, 'ca.crt') };
  writeFileSync(files.cert, client.certPem);
  writeFileSync(files.key, client.keyPem);
  writeFileSync(files.ca, ca.certPem);
  // `--import tsx` rather than tsx's CLI, which would run the server in a grandchild whose CPU we would not see.
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(ROOT, 'bench/https-floor-server.ts'),
      JSON.stringify({ key: server.keyPem, cert: server.certPem, ca: ca.certPem }),
    ],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim())));
      child.once('exit', (code) => reject(new Error(`floor server exited with ${code}`)));
    });
    const cpuBefore = cpuSeconds(child.pid!);
    const load = await runLoad({
      url: `https://localhost:${port}`,
      ...files,
      connections,
      durationS: duration,
      size,
      reconnect,
      client: loadClient,
    });
    const serverCpu = cpuSeconds(child.pid!) - cpuBefore;
    const seconds = (load.ended_at - load.started_at) / 1000;
    const summary = {
      options: { connections, duration, size, client: loadClient, reconnect },
      requests: load.sent,
      answered_202: load.accepted,
      requests_per_s: Math.round(load.accepted / seconds),
      latency_ms: load.latency_ms,
      errors: load.errors,
      ...(load.tls ? { tls_connections: load.tls } : {}),
      server_cpu_ms_per_request: round((serverCpu / Math.max(1, load.sent)) * 1000, 3),
      load_generator_cpu_ms_per_request: round((load.cpu_s / Math.max(1, load.sent)) * 1000, 3),
      loadavg_1m: round(loadavg()[0]!, 2),
    };
    process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  } finally {
    child.kill('SIGTERM');
    rmSync(scratch, { recursive: true, force: true });
  }
}

function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

main().catch((error: unknown) => {
  process.stderr.write(`floor bench failed: ${(error as Error).stack}\n`);
  process.exit(1);
});
