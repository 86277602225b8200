/**
 * `npm run bench:events [-- --clients 100 --sockets 10 --rate 5000 --batch 20 --duration 20
 *   --size 160 --max-in-flight 200 --subscriber-threads 4 --settle 20 --cpu-prof DIR --set events.read_interval_ms=50]`
 *
 * Status events fan-out (issue #21): `clients` clients of their own (certificates issued
 * through the CA, as `mb client issue` does), each with `sockets` WebSockets on
 * `GET /api/v1/events` over mTLS, while a submitter process (bench/events-submitter.ts)
 * sends `rate` messages/s spread over the same clients, `batch` messages per request
 * (`POST /api/v1/messages/batch`; `--batch 1`: one message per `POST /api/v1/messages`).
 * Every accepted message must reach
 * every socket of its client as `queued`, `stored` and `delivered`.
 *
 * The sockets are shared out among `subscriber-threads` worker threads of this process
 * (bench/events-subscriber-worker.ts), which post their counts to this thread at the end:
 * one event loop for all of them stalled for seconds at ~140,000 frames/s, and measured
 * its own lag. Each thread's event-loop delay is reported; when large, the latencies are
 * still the subscribers' side.
 *
 * Measured: event latency (receipt − the event's `at`) and submit-202 → `delivered`
 * receipt, p50/p99/max over every socket's receipt; events lost (an accepted message's
 * event some socket of its client never got, after a drain of up to 30 s); the achieved
 * submit rate; the broker's peak RSS and CPU; the CPU of the submitter and of this
 * process (the subscribers, every thread), which share the box's cores with the broker;
 * the load average.
 *
 * Starts the broker (the real supervisor) against a redis-server of its own and a database
 * of its own, as `npm run bench` does, and removes everything at the end.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
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
  resetPeakRss,
  rssMb,
  threadCpuSeconds,
  waitForParkedActors,
} from './bench-support.js';
import type { SubmitOptions, SubmitResult } from './events-submitter.js';
import {
  type Bundle,
  type FromSubscriber,
  Histogram,
  mergeReports,
  type Share,
  type SubscriberReport,
  type SubscriberTotals,
  type SubscriberWorkerData,
  shareSockets,
  type ToSubscriber,
  TRACKED,
} from './events-tally.js';

interface FanoutOptions {
  clients: number;
  sockets: number;
  rate: number;
  duration: number;
  size: number;
  maxInFlight: number;
  batch: number;
  /** Worker threads the subscriber sockets are shared out among. */
  subscriberThreads: number;
  /** Quiet seconds before the load, at least (waiting for parked actors counts). */
  settle: number;
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
    subscriberThreads: positiveInteger('subscriber-threads', value('subscriber-threads') ?? '4'),
    settle: Number(value('settle') ?? 20),
    ...(value('cpu-prof') ? { cpuProfDir: value('cpu-prof') } : {}),
    overrides: configOverrides(argv),
  };
}

function positiveInteger(name: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, not ${text}`);
  return n;
}

const DRAIN_MS = 30_000;
const WORKER = fileURLToPath(new URL('./events-subscriber-worker.ts', import.meta.url));

/** The subscriber threads, seen from the bench's main thread: each runs bench/events-subscriber-worker.ts. */
class SubscriberThreads {
  private readonly workers: Worker[] = [];
  /** Per thread: rejects when it fails or ends, so that a wait for its answer does not hang. */
  private readonly ended: Array<Promise<never>> = [];
  private shares: Share[][] = [];

  constructor(private readonly threads: number) {}

  /** Opens `sockets` sockets for each bundle, shared out among the threads; resolves once all are subscribed. */
  async open(url: string, bundles: Bundle[], sockets: number): Promise<void> {
    this.shares = shareSockets(bundles.length, sockets, this.threads);
    for (const shares of this.shares) {
      const workerData: SubscriberWorkerData = {
        url,
        shares: shares.map((share) => ({ ...share, bundle: bundles[share.client]! })),
      };
      // The worker is TypeScript: it loads through tsx, as this file does (`npx tsx` or
      // `node --import tsx`), resolved from here rather than from the working directory.
      const worker = new Worker(WORKER, { workerData, execArgv: ['--import', import.meta.resolve('tsx')] });
      const ended = new Promise<never>((_, reject) => {
        worker.once('error', reject);
        worker.once('exit', (code) => reject(new Error(`subscriber thread exited with ${code}`)));
      });
      // Its end is expected once the bench closes it; a failure is awaited in `reply`.
      ended.catch(() => {});
      this.workers.push(worker);
      this.ended.push(ended);
    }
    await Promise.all(this.workers.map((_, i) => this.reply(i)));
  }

  /** Forgets the warm-up's counts (not which messages were seen) and starts each thread's loop-delay monitor. */
  restart(): void {
    for (const worker of this.workers) worker.postMessage({ kind: 'restart' } satisfies ToSubscriber);
  }

  /**
   * Waits for every accepted message's events on every socket of its client, until `deadline`
   * at the latest: each thread is told which messages concern it (and on how many of its
   * sockets) and reports once they are complete. Resolves with the threads' counts added up.
   */
  async drain(accepted: Array<[string, number, number]>, deadline: number): Promise<SubscriberTotals> {
    const reports = await Promise.all(
      this.workers.map(async (worker, i) => {
        const mine = new Map(this.shares[i]!.map(({ client, sockets }) => [client, sockets]));
        const expected = accepted.flatMap(([id, client]): Array<[string, number]> => {
          const sockets = mine.get(client);
          return sockets ? [[id, sockets]] : [];
        });
        worker.postMessage({ kind: 'drain', expected, deadline } satisfies ToSubscriber);
        const answer = await this.reply(i);
        if (answer.kind !== 'report') throw new Error(`subscriber thread ${i} answered ${answer.kind}`);
        return answer.report satisfies SubscriberReport;
      }),
    );
    return mergeReports(reports);
  }

  /** Ends the threads: their sockets close without a closing handshake, as `terminate()` of each socket did. */
  async closeAll(): Promise<void> {
    await Promise.all(this.workers.map((worker) => worker.terminate()));
  }

  private reply(i: number): Promise<FromSubscriber> {
    const worker = this.workers[i]!;
    return Promise.race([once(worker, 'message').then(([message]) => message as FromSubscriber), this.ended[i]!]);
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
  const subscriberThreads = Math.min(options.subscriberThreads, options.clients * options.sockets);
  const subscribers = new SubscriberThreads(subscriberThreads);
  try {
    await broker.start();
    const pid = broker.child!.pid!;
    const rss = { started: rssMb(pid), subscribed: 0, loaded: 0, peak_before_load: 0 };
    const issueStarted = Date.now();
    const bundles = await issueClients(workspace.configPath, join(workspace.dir, 'bench-clients'), options.clients);
    const issueSeconds = (Date.now() - issueStarted) / 1000;
    const connectStarted = Date.now();
    await subscribers.open(
      broker.url,
      bundles.map((bundle) => bundle.pem),
      options.sockets,
    );
    const connectSeconds = (Date.now() - connectStarted) / 1000;
    rss.peak_before_load = peakRssMb(pid);
    // Steady operation: the CA and encryption actors, used by the start, are parked again.
    const idleStopMs = loadConfig({ file: workspace.configPath }).actors.idle_stop_ms;
    const parkedAfter =
      idleStopMs > 0 ? await waitForParkedActors(broker.url, bundles[0]!.pem.ca, idleStopMs + 30_000) : undefined;
    // The same quiet time either way (V8 shrinks idle heaps meanwhile): an A/B of
    // `--set actors.idle_stop_ms=0` against parked actors compares parking, not the pause.
    const settleS = Math.max(0, options.settle - (parkedAfter ?? 0));
    await new Promise((resolve) => setTimeout(resolve, settleS * 1000));
    rss.subscribed = rssMb(pid);
    // From here the peak is the load's (the start's is peak_before_load).
    const loadPeakReset = resetPeakRss(pid);

    let cpuBefore = cpuSeconds(pid);
    let threadsBefore = threadCpuSeconds(pid);
    // process.cpuUsage() is the whole process's (getrusage RUSAGE_SELF): every subscriber thread.
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
        cpuBefore = cpuSeconds(pid);
        threadsBefore = threadCpuSeconds(pid);
        selfBefore = process.cpuUsage();
        lagBefore = lagReading();
      },
    );
    const expected = options.sockets;
    const totals = await subscribers.drain(submitted.accepted_messages, Date.now() + DRAIN_MS);
    const drainSeconds = (Date.now() - submitted.ended_at) / 1000;
    const cpu = cpuSeconds(pid) - cpuBefore;
    const threads = threadCpuSeconds(pid);
    const self = process.cpuUsage(selfBefore);
    rss.loaded = rssMb(pid);
    const memory = await memoryByThread(broker.url, bundles[0]!.pem.ca, 'total');
    const pushLag = bucketQuantilesMs(await lagBefore, await lagReading(), [0.5, 0.99]);

    const toDelivered = Histogram.empty();
    const lost = { queued: 0, stored: 0, delivered: 0 };
    for (const [id, , acceptedAt] of submitted.accepted_messages) {
      const seen = totals.seen.get(id);
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
      subscriber_threads: subscriberThreads,
      clients_issued_s: round(issueSeconds),
      subscribers_connected_s: round(connectSeconds),
      sent: submitted.sent,
      requests: submitted.requests,
      accepted: submitted.accepted,
      accepted_per_s: Math.round(submitted.accepted / loadSeconds),
      submit_latency_ms: submitted.latency_ms,
      errors: submitted.errors,
      events_received: totals.frames,
      events_received_per_s: Math.round(totals.frames / (loadSeconds + drainSeconds)),
      event_latency_ms: totals.eventLatency.summary(),
      event_latency_ms_by_type: Object.fromEntries(
        [...totals.latencyByType].map(([type, histogram]) => [type, histogram.summary()]),
      ),
      submit_202_to_delivered_ms: toDelivered.summary(),
      // Redis append → the broker's write to the sockets (its /metrics histogram; a bucket's
      // upper bound): what the latencies above hold of the broker, the rest is the
      // subscribers' side (the same cores).
      broker_push_lag_ms: pushLag,
      events_lost: lost,
      sockets_closed_by_broker: totals.closedEarly,
      drain_s: round(drainSeconds),
      broker_peak_rss_mb: Math.max(rss.peak_before_load, peakRssMb(pid)),
      // With every socket open and the on-demand actors parked, through the load and the drain.
      ...(loadPeakReset ? { broker_peak_rss_mb_load: peakRssMb(pid) } : {}),
      // Seconds waited for the on-demand actors to be parked before the load (null: they were not).
      actors_parked_after_s: parkedAfter === undefined ? null : round(parkedAfter),
      // Quiet seconds between the last socket opened and the load (at least --settle).
      settled_s: round(Math.max(options.settle, parkedAfter ?? 0)),
      // Resident set once started, with every socket open (on-demand actors parked), at the end of the load; the peak before the load.
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
          Math.max(1, totals.frames),
      ),
      submitter_cpu_s: submitted.cpu_s,
      subscribers_cpu_s: round((self.user + self.system) / 1e6),
      // The worst thread's p50, p99 and max (each maybe another thread's), then each thread's.
      subscribers_event_loop_delay_ms: totals.loopDelayMs,
      loadavg_1m: round(loadavg()[0]!),
    };
    process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  } finally {
    await subscribers.closeAll();
    await broker.kill('SIGTERM');
    await workspace.cleanup();
    await redis.destroy();
  }
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
