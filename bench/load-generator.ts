/**
 * The load generator, run as its own process so it does not share an event loop with
 * the broker or the orchestrator: N keep-alive mTLS connections, each sending one request
 * after another (no pipelining) for a duration or until a fixed count is reached.
 *
 * Why it is built like wrk (bench/wrk-load-client.ts, the default): on the 2-core bench
 * box the load generator's CPU competes with the server it measures, and the peer we
 * compare with (Kannel) is driven by wrk, which pre-builds its request and parses
 * responses minimally. A general HTTP client (undici: header objects, per-request
 * dispatch, full parsing) spends more per request; it stays behind `client: 'undici'`
 * for comparison.
 *
 * Input: one JSON argument (LoadOptions). Output: one JSON line (LoadResult) on stdout.
 */
import { LoadTally } from './load-tally.js';
import { ResumingTlsDialer } from './resuming-tls-dialer.js';
import { driveLikeWrk } from './wrk-load-client.js';

export interface LoadOptions {
  url: string;
  cert: string;
  key: string;
  ca: string;
  connections: number;
  /** Seconds; ignored when `count` is set. */
  durationS: number;
  count?: number;
  /** Characters of message_body. */
  size: number;
  /** A new TLS connection per request (with session resumption). */
  reconnect: boolean;
  /** Every request carries a fresh Idempotency-Key. */
  idempotency?: boolean;
  /**
   * The HTTP client: the lean wrk-like one, or undici for comparison.
   * @defaultValue 'wrk'
   */
  client?: LoadClient;
}

/** `wrk-c`: Debian's wrk itself, run by bench/native-wrk.ts rather than by this process. */
export type LoadClient = 'wrk' | 'undici' | 'wrk-c';

export interface LoadResult {
  sent: number;
  accepted: number;
  errors: Record<string, number>;
  started_at: number;
  ended_at: number;
  latency_ms: { p50: number; p90: number; p99: number; max: number };
  /** CPU seconds the load generator itself used: on a 2-core box it competes with the broker. */
  cpu_s: number;
  /** TLS connections opened, and how many of them resumed a session. */
  tls: { opened: number; resumed: number };
}

async function run(options: LoadOptions): Promise<LoadResult> {
  const dialer = new ResumingTlsDialer(options);
  // Loaded only when asked for: its module graph is CPU the wrk-like client does not spend.
  const drive = options.client === 'undici' ? (await import('./undici-load-client.js')).driveWithUndici : driveLikeWrk;
  const tally = new LoadTally(options);
  await drive(options, dialer, tally);
  const endedAt = Date.now();
  const latencies = tally.latencies.sort((a, b) => a - b);
  const at = (q: number) => round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0);
  const cpu = process.cpuUsage();
  return {
    sent: tally.sent,
    accepted: tally.accepted,
    errors: tally.errors,
    started_at: tally.startedAt,
    ended_at: endedAt,
    latency_ms: { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: round(latencies.at(-1) ?? 0) },
    cpu_s: round((cpu.user + cpu.system) / 1e6),
    tls: dialer.counts,
  };
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

const options = JSON.parse(process.argv[2] ?? '{}') as LoadOptions;
run(options).then(
  (result) => process.stdout.write(`${JSON.stringify(result)}\n`),
  (error: unknown) => {
    process.stderr.write(`load generator failed: ${(error as Error).stack}\n`);
    process.exit(1);
  },
);
