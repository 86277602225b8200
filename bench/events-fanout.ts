/**
 * `npm run bench:events [-- --clients 100 --sockets 10 --rate 5000 --batch 20 --duration 20
 *   --size 160 --max-in-flight 200 --cpu-prof DIR --set events.read_interval_ms=50]`
 *
 * Status events fan-out (issue #21): `clients` clients of their own (certificates issued
 * through the CA, as `mb client issue` does), each with `sockets` WebSockets on
 * `GET /api/v1/events` over mTLS, while a submitter process (bench/events-submitter.ts)
 * sends `rate` messages/s spread over the same clients, `batch` messages per request
 * (`POST /api/v1/messages/batch`; `--batch 1`: one message per `POST /api/v1/messages`).
 * Every accepted message must reach
 * every socket of its client as `queued`, `stored` and `delivered`.
 *
 * Measured: event latency (receipt − the event's `at`) and submit-202 → `delivered`
 * receipt, p50/p99/max over every socket's receipt; events lost (an accepted message's
 * event some socket of its client never got, after a drain of up to 30 s); the achieved
 * submit rate; the broker's peak RSS and CPU; the CPU of the submitter and of this
 * process (the subscribers), which share the box's cores with the broker; the load average.
 *
 * Starts the broker (the real supervisor) against a redis-server of its own and a database
 * of its own, as `npm run bench` does, and removes everything at the end.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { join } from 'node:path';
import WebSocket from 'ws';
import { openContext } from '../src/cli/cli-context.js';
import { loadConfig } from '../src/config/config.js';
import { BrokerProcess, createWorkspace, deepMerge, ROOT } from '../test/support/broker-harness.js';
import { TestRedisServer } from '../test/support/redis-server.js';
import {
  bucketQuantilesMs,
  configOverrides,
  cpuSeconds,
  histogramBuckets,
  memoryByThread,
  peakRssMb,
  rssMb,
  threadCpuSeconds,
} from './bench-support.js';
import { parseFrame } from './event-frame.js';
import type { SubmitOptions, SubmitResult } from './events-submitter.js';

interface FanoutOptions {
  clients: number;
  sockets: number;
  rate: number;
  duration: number;
  size: number;
  maxInFlight: number;
  batch: number;
  cpuProfDir?: string;
  /** Config overrides (`--set events.read_interval_ms=50`, repeatable), for experiments. */
  overrides: Record<string, unknown>;
}

function parseArgs(argv: string[]): FanoutOptions {
  const value = (name: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  return {
    clients: Number(value('clients') ?? 100),
    sockets: Number(value('sockets') ?? 10),
    rate: Number(value('rate') ?? 5000),
    duration: Number(value('duration') ?? 20),
    size: Number(value('size') ?? 160),
    maxInFlight: Number(value('max-in-flight') ?? 200),
    batch: Number(value('batch') ?? 20),
    ...(value('cpu-prof') ? { cpuProfDir: value('cpu-prof') } : {}),
    overrides: configOverrides(argv),
  };
}

const TRACKED = ['queued', 'stored', 'delivered'] as const;
const DRAIN_MS = 30_000;

/** Latencies in whole milliseconds, counted in buckets: millions of receipts cost 480 KB. */
class Histogram {
  private readonly buckets = new Uint32Array(120_001);
  count = 0;

  add(ms: number): void {
    this.buckets[Math.max(0, Math.min(this.buckets.length - 1, Math.round(ms)))]!++;
    this.count++;
  }

  summary(): { count: number; p50: number; p99: number; max: number } {
    const at = (q: number) => {
      const rank = Math.ceil(q * this.count);
      let seen = 0;
      for (let ms = 0; ms < this.buckets.length; ms++) if ((seen += this.buckets[ms]!) >= rank) return ms;
      return 0;
    };
    let max = 0;
    for (let ms = this.buckets.length - 1; ms >= 0; ms--)
      if (this.buckets[ms]! > 0) {
        max = ms;
        break;
      }
    return { count: this.count, p50: at(0.5), p99: at(0.99), max };
  }
}

/** What the subscribers saw of one message: receipts per tracked type, `delivered` receipt times. */
interface Seen {
  counts: [number, number, number];
  deliveredAt: number[];
}

class Subscribers {
  eventLatency = new Histogram();
  /** By type: `queued` is written at the 202, `stored`/`delivered` after MariaDB (where a busy box queues). */
  latencyByType = new Map<string, Histogram>();
  readonly seen = new Map<string, Seen>();
  readonly sockets: WebSocket[] = [];
  closedEarly = 0;
  frames = 0;

  async open(url: string, bundle: Bundle): Promise<void> {
    // Text frames from the broker are not checked as UTF-8 here (the e2e tests read them
    // with the default): the subscribers share the box's cores with the broker.
    const socket = new WebSocket(`${url.replace(/^https/, 'wss')}/api/v1/events`, {
      ...bundle,
      skipUTF8Validation: true,
    });
    this.sockets.push(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.on('message', (data) => {
        const now = Date.now();
        const frame = parseFrame(data.toString());
        if (frame.type === 'subscribed') return resolve();
        if (!frame.event_id) return;
        this.frames++;
        const latency = now - Date.parse(frame.at!);
        this.eventLatency.add(latency);
        let byType = this.latencyByType.get(frame.type);
        if (!byType) this.latencyByType.set(frame.type, (byType = new Histogram()));
        byType.add(latency);
        const index = (TRACKED as readonly string[]).indexOf(frame.type);
        if (index < 0) return;
        let seen = this.seen.get(frame.message_id!);
        if (!seen) this.seen.set(frame.message_id!, (seen = { counts: [0, 0, 0], deliveredAt: [] }));
        seen.counts[index as 0 | 1 | 2]++;
        if (frame.type === 'delivered') seen.deliveredAt.push(now);
      });
      socket.once('close', () => this.closedEarly++);
    });
  }

  /** Forgets what was counted so far (the warm-up). */
  restart(): void {
    this.eventLatency = new Histogram();
    this.latencyByType.clear();
    this.frames = 0;
  }

  closeAll(): void {
    for (const socket of this.sockets) socket.removeAllListeners('close').terminate();
  }
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const redis = await TestRedisServer.create('everysec');
  const workspace = await createWorkspace(
    deepMerge(
      {
        log: { level: 'warn' },
        delivery: { concurrency: 128 },
        limits: { rate_limit: 1_000_000_000, daily_quota: 1_000_000_000 },
      },
      options.overrides,
    ),
    redis.url,
  );
  const broker = new BrokerProcess(
    workspace,
    {},
    options.cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', options.cpuProfDir] : [],
  );
  const subscribers = new Subscribers();
  try {
    await broker.start();
    const pid = broker.child!.pid!;
    const rss = { started: rssMb(pid), subscribed: 0, loaded: 0, peak_before_load: 0 };
    const issueStarted = Date.now();
    const bundles = await issueClients(workspace.configPath, join(workspace.dir, 'bench-clients'), options.clients);
    const issueSeconds = (Date.now() - issueStarted) / 1000;
    const connectStarted = Date.now();
    for (const bundle of bundles)
      await Promise.all(Array.from({ length: options.sockets }, () => subscribers.open(broker.url, bundle.pem)));
    const connectSeconds = (Date.now() - connectStarted) / 1000;
    rss.subscribed = rssMb(pid);
    rss.peak_before_load = peakRssMb(pid);

    // This process's event-loop delay under load: when it is large, the latencies below are
    // the subscribers' own lag (they share the cores), not the broker's.
    const loopDelay = monitorEventLoopDelay({ resolution: 10 });
    let cpuBefore = cpuSeconds(pid);
    let threadsBefore = threadCpuSeconds(pid);
    let selfBefore = process.cpuUsage();
    // The broker's own side of the latency: its push-lag histogram over the measured part.
    const lagReading = () =>
      histogramBuckets(broker.url, bundles[0]!.pem.ca, 'mb_events_push_lag_seconds').catch(
        () => [] as Array<[number, number]>,
      );
    let lagBefore = lagReading();
    const submitted = await runSubmitter(
      {
        url: broker.url,
        clients: bundles.map((b) => b.files),
        rate: options.rate,
        durationS: options.duration,
        size: options.size,
        maxInFlight: options.maxInFlight,
        batch: options.batch,
      },
      join(workspace.dir, 'submitter.json'),
      () => {
        // The warm-up's handshakes and events are not part of the figure.
        subscribers.restart();
        loopDelay.reset();
        loopDelay.enable();
        cpuBefore = cpuSeconds(pid);
        threadsBefore = threadCpuSeconds(pid);
        selfBefore = process.cpuUsage();
        lagBefore = lagReading();
      },
    );
    const expected = options.sockets;
    const complete = () =>
      submitted.accepted_messages.every(([id]) => {
        const seen = subscribers.seen.get(id);
        return seen?.counts.every((n) => n >= expected) === true;
      });
    const drainDeadline = Date.now() + DRAIN_MS;
    while (Date.now() < drainDeadline && !complete()) await new Promise((r) => setTimeout(r, 200));
    const drainSeconds = (Date.now() - submitted.ended_at) / 1000;
    const cpu = cpuSeconds(pid) - cpuBefore;
    const threads = threadCpuSeconds(pid);
    const self = process.cpuUsage(selfBefore);
    rss.loaded = rssMb(pid);
    const memory = await memoryByThread(broker.url, bundles[0]!.pem.ca, 'total');
    const pushLag = bucketQuantilesMs(await lagBefore, await lagReading(), [0.5, 0.99]);

    const toDelivered = new Histogram();
    const lost = { queued: 0, stored: 0, delivered: 0 };
    for (const [id, , acceptedAt] of submitted.accepted_messages) {
      const seen = subscribers.seen.get(id);
      TRACKED.forEach((type, i) => {
        lost[type] += Math.max(0, expected - (seen?.counts[i] ?? 0));
      });
      for (const at of seen?.deliveredAt ?? []) toDelivered.add(at - acceptedAt);
    }
    const loadSeconds = (submitted.ended_at - submitted.started_at) / 1000;
    const byThread = [...threads]
      .map(([name, seconds]) => [name, round(seconds - (threadsBefore.get(name) ?? 0))] as const)
      .filter(([, seconds]) => seconds > 0);
    const accepted = Math.max(1, submitted.accepted);
    const summary = {
      options,
      subscribers: options.clients * options.sockets,
      clients_issued_s: round(issueSeconds),
      subscribers_connected_s: round(connectSeconds),
      sent: submitted.sent,
      requests: submitted.requests,
      accepted: submitted.accepted,
      accepted_per_s: Math.round(submitted.accepted / loadSeconds),
      submit_latency_ms: submitted.latency_ms,
      errors: submitted.errors,
      events_received: subscribers.frames,
      events_received_per_s: Math.round(subscribers.frames / (loadSeconds + drainSeconds)),
      event_latency_ms: subscribers.eventLatency.summary(),
      event_latency_ms_by_type: Object.fromEntries(
        [...subscribers.latencyByType].map(([type, histogram]) => [type, histogram.summary()]),
      ),
      submit_202_to_delivered_ms: toDelivered.summary(),
      // Redis append → the broker's write to the sockets (its /metrics histogram; a bucket's
      // upper bound): what the latencies above hold of the broker, the rest is the
      // subscribers' side (the same cores).
      broker_push_lag_ms: pushLag,
      events_lost: lost,
      sockets_closed_by_broker: subscribers.closedEarly,
      drain_s: round(drainSeconds),
      broker_peak_rss_mb: peakRssMb(pid),
      // Resident set once started, with every socket open, at the end of the load; the peak before the load.
      broker_rss_mb: rss,
      // V8 heaps and external memory (Buffers, TLS) per thread at the end of the load, from /metrics.
      broker_memory_mb: memory,
      broker_cpu_s: round(cpu),
      broker_cpu_s_per_1000: round3((cpu / accepted) * 1000),
      broker_cpu_s_by_thread: Object.fromEntries(byThread),
      broker_cpu_s_per_1000_by_thread: Object.fromEntries(
        byThread.map(([name, seconds]) => [name, round3((seconds / accepted) * 1000)]),
      ),
      // The main thread (TLS, HTTP, the hub and every frame) per frame a subscriber received.
      broker_main_cpu_us_per_frame: round(
        ((byThread.find(([name]) => name === 'node' || name === 'MainThread')?.[1] ?? 0) * 1e6) /
          Math.max(1, subscribers.frames),
      ),
      submitter_cpu_s: submitted.cpu_s,
      subscribers_cpu_s: round((self.user + self.system) / 1e6),
      subscribers_event_loop_delay_ms: {
        p50: round(loopDelay.percentile(50) / 1e6),
        p99: round(loopDelay.percentile(99) / 1e6),
        max: round(loopDelay.max / 1e6),
      },
      loadavg_1m: round(loadavg()[0]!),
    };
    process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  } finally {
    subscribers.closeAll();
    await broker.kill('SIGTERM');
    await workspace.cleanup();
    await redis.destroy();
  }
}

/** A client's certificate, key and CA: as PEM text or as file paths. */
interface Bundle {
  cert: string;
  key: string;
  ca: string;
}

/** Issues `count` clients of the default domain in this process (what `mb client issue` runs), files under `dir`. */
async function issueClients(
  configPath: string,
  dir: string,
  count: number,
): Promise<Array<{ pem: Bundle; files: Bundle }>> {
  const context = openContext(loadConfig({ file: configPath }));
  try {
    const { authority } = await context.ca();
    const bundles = [];
    for (let i = 0; i < count; i++) {
      const issued = await authority.issue({ name: `fan${i}`, domain: 'default', actor: 'bench' });
      const files = { cert: join(dir, `fan${i}.crt`), key: join(dir, `fan${i}.key`), ca: join(dir, 'ca.crt') };
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      writeFileSync(files.cert, issued.cert_pem);
      writeFileSync(files.key, issued.key_pem, { mode: 0o600 });
      writeFileSync(files.ca, issued.ca_pem);
      bundles.push({ pem: { cert: issued.cert_pem, key: issued.key_pem, ca: issued.ca_pem }, files });
    }
    return bundles;
  } finally {
    await context.close();
  }
}

/** Runs the submitter; `onStarted` once its warm-up is over and the timed run begins. */
function runSubmitter(options: SubmitOptions, optionsFile: string, onStarted: () => void): Promise<SubmitResult> {
  // In a file: a thousand clients' paths are more than an argument may hold (E2BIG).
  writeFileSync(optionsFile, JSON.stringify(options));
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [join(ROOT, 'node_modules/tsx/dist/cli.mjs'), join(ROOT, 'bench/events-submitter.ts'), optionsFile],
      { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] },
    );
    child.once('message', onStarted);
    const chunks: Buffer[] = [];
    child.stdout!.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.once('exit', (code) =>
      code === 0
        ? resolve(JSON.parse(Buffer.concat(chunks).toString()) as SubmitResult)
        : reject(new Error(`submitter exited with ${code}`)),
    );
  });
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${(error as Error).stack}\n`);
  process.exit(1);
});
