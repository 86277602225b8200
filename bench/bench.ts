/**
 * `npm run bench [-- --connections 50 --duration 20 --size 160 --fsync everysec|always
 *   --target store|webhook|amqp --reconnect --count 100000 --limits on|off --idempotency --cpu-prof DIR
 *   --client wrk|wrk-c|undici --node-args "--v8-flag …"]`
 *
 * `--limits off` runs without rate limit and quota (on: both counted, set high enough
 * that nothing is refused); `--idempotency` sends a fresh Idempotency-Key with every
 * request; `--client undici` drives the load with undici instead of the lean wrk-like client
 * (bench/load-generator.ts says why that is the default); `--client wrk-c` with Debian's wrk
 * itself, the generator the Kannel peer run uses (bench/native-wrk.ts). The summary includes the Redis CPU per 1000 messages (its own redis-server) and, from INFO commandstats, each Redis command's calls and µs per message (`redis_calls_per_message`; commands a script runs are counted under their own names as well as in the script's EVALSHA).
 * `--target amqp` publishes to a RabbitMQ node of the bench's own (plain amqp:// on loopback,
 * durable queue, a consumer acking as it goes) and waits for every confirm, as `webhook`
 * waits for every 2xx of its local HTTPS downstream.
 * `--cpu-prof DIR` writes a V8 CPU profile of the broker (every thread) into DIR at exit;
 * `npx tsx bench/profile-summary.ts DIR` prints where the time went. `--node-args` passes
 * flags to the broker's node (kept across its re-exec), to compare V8 settings; `--set a.b=N`
 * (repeatable) overrides a config value, e.g. `--set actors.young_generation_mb=8`; `--env NAME=VALUE`
 * (repeatable) sets one in the broker's environment, e.g. `--env MALLOC_ARENA_MAX=2`.
 *
 * Starts the broker (the real supervisor, as a child process) against a redis-server of
 * its own with AOF and a database of its own, runs the load generator in a separate
 * process over keep-alive mTLS, waits until every accepted message is stored and
 * delivered, and prints a JSON summary. Everything it started is stopped and removed.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { createServer, type Server } from 'node:https';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { createConnection } from 'mysql2/promise';
import { createCa } from '../src/pki/ca.js';
import { issueServerCertificate } from '../src/pki/issue.js';
import { BrokerProcess, createWorkspace, deepMerge } from '../test/support/broker-harness.js';
import { TestRedisServer } from '../test/support/redis-server.js';
import { consumeQueue, declareTopology, type QueueConsumer } from '../test/support/amqp-queue.js';
import { TestRabbitServer } from '../test/support/rabbitmq-server.js';
import {
  configOverrides,
  cpuSeconds,
  histogramTotals,
  loadClientOption,
  peakRssMb,
  processCpuSeconds,
  resetPeakRss,
  runLoad,
  threadCpuSeconds,
} from './bench-support.js';
import type { LoadClient } from './load-generator.js';

interface BenchOptions {
  connections: number;
  duration: number;
  size: number;
  fsync: 'everysec' | 'always';
  target: 'store' | 'webhook' | 'amqp';
  reconnect: boolean;
  count?: number;
  limits: 'on' | 'off';
  idempotency: boolean;
  cpuProfDir?: string;
  /** Extra node/V8 flags for the broker process (`--node-args "--flag --flag"`), for experiments. */
  nodeArgs: string[];
  /** Config overrides (`--set actors.young_generation_mb=8`, repeatable), for experiments. */
  overrides: Record<string, unknown>;
  /** The broker's environment on top of this one (`--env MALLOC_ARENA_MAX=2`, repeatable), for experiments. */
  env: Record<string, string>;
  client: LoadClient;
}

function parseArgs(argv: string[]): BenchOptions {
  // `--name value` or `--name=value` (an unparsed `--name=value` once made an A/B run two identical builds).
  const value = (name: string) => {
    const i = argv.indexOf(`--${name}`);
    if (i >= 0) return argv[i + 1];
    return argv.find((arg) => arg.startsWith(`--${name}=`))?.slice(name.length + 3);
  };
  const count = value('count');
  return {
    connections: Number(value('connections') ?? 50),
    duration: Number(value('duration') ?? 20),
    size: Number(value('size') ?? 160),
    fsync: value('fsync') === 'always' ? 'always' : 'everysec',
    target: value('target') === 'webhook' ? 'webhook' : value('target') === 'amqp' ? 'amqp' : 'store',
    reconnect: argv.includes('--reconnect'),
    limits: value('limits') === 'off' ? 'off' : 'on',
    idempotency: argv.includes('--idempotency'),
    client: loadClientOption(argv),
    ...(count ? { count: Number(count) } : {}),
    ...(value('cpu-prof') ? { cpuProfDir: value('cpu-prof') } : {}),
    nodeArgs: value('node-args')?.split(' ').filter(Boolean) ?? [],
    overrides: configOverrides(argv),
    env: Object.fromEntries(
      argv.flatMap((arg, i) => {
        const pair = arg === '--env' ? argv[i + 1] : arg.startsWith('--env=') ? arg.slice(6) : undefined;
        if (!pair) return [];
        const at = pair.indexOf('=');
        return [[pair.slice(0, at), pair.slice(at + 1)] as [string, string]];
      }),
    ),
  };
}

interface Downstream {
  server: Server;
  url: string;
  caPem: string;
  /** TLS connections the broker opened and POSTs it made: churn shows as connections ≫ slots. */
  counts: { connections: number; requests: number };
}

async function startDownstream(): Promise<Downstream> {
  const ca = createCa({ commonName: 'Bench Downstream CA', days: 1 });
  const cert = issueServerCertificate(ca, { commonName: 'localhost', hostnames: ['127.0.0.1'], days: 1 });
  const counts = { connections: 0, requests: 0 };
  const server = createServer({ key: cert.keyPem, cert: cert.certPem }, (req, res) => {
    counts.requests++;
    req.resume();
    req.on('end', () => res.writeHead(200).end());
  });
  server.on('secureConnection', () => counts.connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    server,
    url: `https://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/inbound`,
    caPem: ca.certPem,
    counts,
  };
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const redis = await TestRedisServer.create(options.fsync);
  const downstream = options.target === 'webhook' ? await startDownstream() : undefined;
  const rabbit = options.target === 'amqp' ? await startRabbit() : undefined;
  const scratch = mkdtempSync(join(tmpdir(), 'mb-bench-'));
  const downstreamCa = join(scratch, 'downstream-ca.pem');
  if (downstream) writeFileSync(downstreamCa, downstream.caPem);
  const workspace = await createWorkspace(
    deepMerge(
      {
        log: { level: 'warn' },
        queue: { fsync: options.fsync },
        delivery: { concurrency: 128 },
        limits:
          options.limits === 'off'
            ? { rate_limit: 0, daily_quota: 0 }
            : { rate_limit: 1_000_000_000, daily_quota: 1_000_000_000 },
        ...(downstream
          ? {
              domains: [
                {
                  name: 'default',
                  target: { type: 'webhook', url: downstream.url, secret: 'bench', ca_file: downstreamCa },
                },
              ],
            }
          : {}),
        ...(rabbit
          ? {
              domains: [
                {
                  name: 'default',
                  target: {
                    type: 'amqp',
                    url: rabbit.server.url,
                    exchange: BENCH_TOPOLOGY.exchange,
                    routing_key: BENCH_TOPOLOGY.routingKey,
                    allow_insecure_amqp: true,
                  },
                },
              ],
            }
          : {}),
      },
      options.overrides,
    ),
    redis.url,
  );
  const broker = new BrokerProcess(workspace, options.env, [
    ...options.nodeArgs,
    ...(options.cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', options.cpuProfDir] : []),
  ]);
  try {
    await broker.start();
    const pid = broker.child!.pid!;
    // The peak so far is the start's (on a first start, the admin's password hash); from
    // here on VmHWM counts the load alone.
    const startPeakRssMb = peakRssMb(pid);
    const loadPeakReset = resetPeakRss(pid);
    const bundle = join(workspace.dir, 'certs/clients/demo.default');
    const cpuBefore = cpuSeconds(pid);
    const threadsBefore = threadCpuSeconds(pid);
    // This process: the webhook target's downstream server (and the drain's polling).
    const benchCpuBefore = process.cpuUsage();
    const mariadbBefore = processCpuSeconds('mariadbd');
    const redisCpuBefore = await redisCpuSeconds(redis.url);
    const commandsBefore = await redisCommandStats(redis.url);
    const caPem = readFileSync(join(bundle, 'ca.crt'), 'utf8');
    const batchesBefore = await histogramTotals(broker.url, caPem, 'mb_ingest_batch_size');
    const load = await runLoad({
      url: broker.url,
      cert: join(bundle, 'client.crt'),
      key: join(bundle, 'client.key'),
      ca: join(bundle, 'ca.crt'),
      connections: options.connections,
      durationS: options.duration,
      size: options.size,
      reconnect: options.reconnect,
      idempotency: options.idempotency,
      client: options.client,
      ...(options.count ? { count: options.count } : {}),
    });
    const db = await createConnection({ uri: workspace.database.url });
    let delivered = 0;
    const drainDeadline = Date.now() + 300_000;
    while (Date.now() < drainDeadline) {
      const [[row]] = (await db.query("SELECT COUNT(*) AS n FROM messages WHERE status = 'delivered'")) as unknown as [
        [{ n: number }],
      ];
      delivered = Number(row.n);
      if (delivered >= load.accepted) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const drainedAt = Date.now();
    const cpu = cpuSeconds(pid) - cpuBefore;
    const benchCpu = process.cpuUsage(benchCpuBefore);
    const threads = threadCpuSeconds(pid);
    const mariadbCpu = processCpuSeconds('mariadbd') - mariadbBefore;
    const redisCpu = (await redisCpuSeconds(redis.url)) - redisCpuBefore;
    const commands = perMessageCommands(commandsBefore, await redisCommandStats(redis.url), load.accepted);
    const batchesAfter = await histogramTotals(broker.url, caPem, 'mb_ingest_batch_size');
    const [lagRows] = (await db.query(
      'SELECT TIMESTAMPDIFF(MICROSECOND, queued_at, created_at) / 1000 AS lag FROM messages',
    )) as unknown as [Array<{ lag: string }>];
    await db.end();
    const lags = lagRows.map((r) => Number(r.lag)).sort((a, b) => a - b);
    const loadSeconds = (load.ended_at - load.started_at) / 1000;
    const drainSeconds = (drainedAt - load.ended_at) / 1000;
    const summary = {
      options,
      sent: load.sent,
      accepted: load.accepted,
      accepted_per_s: Math.round(load.accepted / loadSeconds),
      latency_ms: load.latency_ms,
      errors: load.errors,
      delivered,
      load_s: round(loadSeconds),
      drain_s: round(drainSeconds),
      end_to_end_per_s: Math.round(load.accepted / (loadSeconds + drainSeconds)),
      storage_lag_ms: {
        p50: round(lags[Math.floor(lags.length * 0.5)] ?? 0),
        p99: round(lags[Math.floor(lags.length * 0.99)] ?? 0),
        max: round(lags.at(-1) ?? 0),
      },
      broker_peak_rss_mb: Math.max(startPeakRssMb, peakRssMb(pid)),
      broker_peak_rss_mb_start: startPeakRssMb,
      ...(loadPeakReset ? { broker_peak_rss_mb_load: peakRssMb(pid) } : {}),
      broker_cpu_s_per_1000: round3((cpu / Math.max(1, load.accepted)) * 1000),
      broker_cpu_s_per_1000_by_thread: Object.fromEntries(
        [...threads]
          .map(
            ([name, seconds]) =>
              [name, round3(((seconds - (threadsBefore.get(name) ?? 0)) / Math.max(1, load.accepted)) * 1000)] as const,
          )
          .filter(([, perThousand]) => perThousand > 0),
      ),
      // Requests per front → ingest hand-off (one postMessage, one Redis pipeline).
      ingest_batch_mean: round(
        (batchesAfter.sum - batchesBefore.sum) / Math.max(1, batchesAfter.count - batchesBefore.count),
      ),
      redis_cpu_s_per_1000: round3((redisCpu / Math.max(1, load.accepted)) * 1000),
      redis_calls_per_message: commands,
      mariadb_cpu_s_per_1000: round3((mariadbCpu / Math.max(1, load.accepted)) * 1000),
      load_generator_cpu_s_per_1000: round3((load.cpu_s / Math.max(1, load.sent)) * 1000),
      tls_connections: load.tls,
      ...(downstream
        ? {
            downstream: {
              ...downstream.counts,
              // The bench process itself: mostly the downstream's TLS and HTTP.
              cpu_s_per_1000: round3(
                ((benchCpu.user + benchCpu.system) / 1e6 / Math.max(1, downstream.counts.requests)) * 1000,
              ),
            },
          }
        : {}),
      ...(rabbit ? { amqp: { consumed: rabbit.consumer.received.length } } : {}),
      loadavg_1m: round(loadavg()[0]!),
    };
    process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  } finally {
    await broker.kill('SIGTERM');
    await workspace.cleanup();
    await redis.destroy();
    if (downstream) await new Promise((resolve) => downstream.server.close(resolve));
    if (rabbit) {
      await rabbit.consumer.close();
      await rabbit.server.destroy();
    }
    rmSync(scratch, { recursive: true, force: true });
  }
}

const BENCH_TOPOLOGY = { exchange: 'mb.bench', queue: 'bench-in', routingKey: 'bench' };

/** A RabbitMQ node of the bench's own, its topology declared and a consumer emptying the queue. */
async function startRabbit(): Promise<{ server: TestRabbitServer; consumer: QueueConsumer }> {
  const server = await TestRabbitServer.create();
  try {
    await declareTopology(server.url, BENCH_TOPOLOGY);
    return { server, consumer: await consumeQueue(server.url, BENCH_TOPOLOGY.queue) };
  } catch (error) {
    await server.destroy();
    throw error;
  }
}

/** CPU the redis-server used so far (user + system), from INFO cpu. */
async function redisCpuSeconds(url: string): Promise<number> {
  const client = new Redis(url);
  try {
    const info = await client.info('cpu');
    const value = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
    return value('used_cpu_user') + value('used_cpu_sys');
  } finally {
    client.disconnect();
  }
}

interface CommandStat {
  calls: number;
  usec: number;
}

/** Calls and time per Redis command so far, from INFO commandstats (script commands included). */
async function redisCommandStats(url: string): Promise<Map<string, CommandStat>> {
  const client = new Redis(url);
  try {
    const info = await client.info('commandstats');
    const stats = new Map<string, CommandStat>();
    for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm))
      stats.set(match[1]!, { calls: Number(match[2]), usec: Number(match[3]) });
    return stats;
  } finally {
    client.disconnect();
  }
}

/**
 * Per accepted message, each command's calls and µs inside Redis (its own accounting, so
 * without the event loop's reads and writes) over the run: what the broker asked of Redis.
 */
function perMessageCommands(
  before: Map<string, CommandStat>,
  after: Map<string, CommandStat>,
  messages: number,
): Record<string, { calls: number; usec: number }> {
  const out: Record<string, { calls: number; usec: number }> = {};
  const n = Math.max(1, messages);
  const rows = [...after]
    .map(([name, stat]) => {
      const was = before.get(name) ?? { calls: 0, usec: 0 };
      return [name, { calls: round3((stat.calls - was.calls) / n), usec: round3((stat.usec - was.usec) / n) }] as const;
    })
    .filter(([, stat]) => stat.calls >= 0.001)
    .sort((a, b) => b[1].usec - a[1].usec);
  for (const [name, stat] of rows) out[name] = stat;
  return out;
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${(error as Error).stack}\n`);
  process.exit(1);
});

function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}
