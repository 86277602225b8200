/**
 * `--client wrk-c`: the load driven by wrk itself (C, Debian's `wrk`), the load generator
 * the Kannel peer run (`../shared/peers/kannel/run.sh`) is measured with, so that the two
 * rates compare on a box whose two cores the load generator shares with what it measures.
 * wrk has no client-certificate option: `wrk/tls-client-cert.c`, compiled here with the
 * system's `cc` and libssl headers and preloaded, loads the demo client's certificate into
 * wrk's TLS context. `wrk/submit.lua` does per request what the peer's script does (builds
 * the request, counts the answer by status in Lua).
 *
 * A duration only (no `--count`, `--reconnect` or `--idempotency`: wrk's script would
 * have to do what the Node client does for them). The TLS figures are wrk's connections;
 * it keeps them open, so none is resumed.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../test/support/broker-harness.js';
import type { LoadOptions, LoadResult } from './load-generator.js';
import { messagesPath } from './load-tally.js';

/** wrk's own threads, as the peer run (`THREADS=2`). */
const WRK_THREADS = 2;

/** What `--client wrk-c` needs on the host, or why it cannot run (missing `wrk`, `cc` or libssl headers). */
export function buildTlsShim(dir: string): string {
  const out = join(dir, 'tls-client-cert.so');
  try {
    execFileSync(
      'cc',
      ['-O2', '-shared', '-fPIC', '-o', out, join(ROOT, 'bench/wrk/tls-client-cert.c'), '-ldl', '-lssl'],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim();
    throw new Error(
      `--client wrk-c needs cc and the OpenSSL headers (apt-get install -y gcc libssl-dev wrk): ${stderr || (error as Error).message}`,
    );
  }
  return out;
}

export async function runNativeWrk(options: LoadOptions): Promise<LoadResult> {
  if (options.count !== undefined || options.reconnect || options.idempotency) {
    throw new Error('--client wrk-c runs for a duration only: no --count, --reconnect or --idempotency');
  }
  const scratch = mkdtempSync(join(tmpdir(), 'mb-wrk-'));
  try {
    const shim = buildTlsShim(scratch);
    const url = new URL(options.url);
    const connections = Math.max(WRK_THREADS, options.connections);
    const wrk = [
      'wrk',
      `-t${WRK_THREADS}`,
      `-c${connections}`,
      `-d${options.durationS}s`,
      '--latency',
      '-s',
      join(ROOT, 'bench/wrk/submit.lua'),
      url.origin,
      '--',
      messagesPath(url),
      String(options.size),
    ];
    // bash's `times` after wrk ends: the CPU of its finished children (wrk), which /proc no
    // longer shows once wrk has exited.
    const script = `${wrk.map((arg) => `'${arg.replaceAll("'", "'\\''")}'`).join(' ')} && times`;
    const startedAt = Date.now();
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn('bash', ['-c', script], {
        env: { ...process.env, LD_PRELOAD: shim, WRK_TLS_CERT: options.cert, WRK_TLS_KEY: options.key },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let text = '';
      child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
      child.once('error', reject);
      child.once('exit', (code) =>
        code === 0 ? resolve(text) : reject(new Error(`wrk exited with ${code}: ${text}`)),
      );
    });
    const endedAt = Date.now();
    return parseWrkResult(out, startedAt, endedAt, connections);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** wrk's RESULT line (bench/wrk/submit.lua) and bash's `times` as the bench's LoadResult. */
export function parseWrkResult(out: string, startedAt: number, endedAt: number, connections: number): LoadResult {
  const line = /^RESULT (.*)$/m.exec(out)?.[1];
  if (!line) throw new Error(`no RESULT line from wrk: ${out.slice(0, 500)}`);
  const fields = Object.fromEntries([...line.matchAll(/([a-z0-9_]+)=([^ ]*)/g)].map((m) => [m[1]!, m[2]!]));
  const errors: Record<string, number> = {};
  for (const part of (fields.status ?? '').split(',').filter(Boolean)) {
    const [status, n] = part.split(':');
    if (status !== '202') errors[`HTTP_${status}`] = Number(n);
  }
  for (const part of (fields.errors ?? '').split(',').filter(Boolean)) {
    const [kind, n] = part.split(':');
    if (Number(n) > 0) errors[`socket_${kind}`] = Number(n);
  }
  // `times`: the shell's user and system time, then its children's, as `XmY.YYYs`.
  const times = [...out.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
  const durationMs = Number(fields.duration_s) * 1000;
  return {
    sent: Number(fields.requests),
    accepted: Number(fields.accepted),
    errors,
    // wrk's own measured window, ending when it returned (never before it started).
    started_at: Math.max(startedAt, endedAt - durationMs),
    ended_at: endedAt,
    latency_ms: {
      p50: Number(fields.p50_ms),
      p90: Number(fields.p90_ms),
      p99: Number(fields.p99_ms),
      max: Number(fields.max_ms),
    },
    cpu_s: (times[2] ?? 0) + (times[3] ?? 0),
    tls: { opened: connections, resumed: 0 },
  };
}
