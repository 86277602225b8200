/**
 * `npm run bench:connections [-- --kind ws|submit|both --steps 0,250,500,1000 --snapshot --settle-ms 3000]`
 *
 * What one idle connection costs the broker (issue #21): `kind` ws opens idle event
 * WebSockets (`GET /api/v1/events` over mTLS, the demo client), `submit` opens keep-alive
 * connections that each submitted one message and then sit idle. At every step of
 * `steps` (cumulative: 0, then 250 open, then 500, …) the main thread's garbage is
 * collected (the inspector's HeapProfiler.collectGarbage: the broker runs with
 * `--inspect` on a loopback port), the memory settles, and the broker's RSS and each
 * thread's V8 heap (used) and external memory (loopback /metrics) are read. Reported:
 * those figures per step and, per connection, (step − step 0) / connections.
 *
 * `--snapshot` also takes a heap snapshot of the main thread at the first and the last
 * step and prints what the JS heap holds more per connection, by constructor (count and
 * bytes per connection): what a connection keeps alive. A snapshot leaves the process
 * with more resident memory (glibc keeps what it freed): read RSS from a run without it.
 *
 * Starts the broker (the real supervisor) against a redis-server of its own and a database
 * of its own, as `npm run bench` does, and removes everything at the end.
 */
import { connect as tlsConnect, createSecureContext, type SecureContext, type TLSSocket } from 'node:tls';
import WebSocket from 'ws';
import { BrokerProcess, type ClientBundle, createWorkspace, demoBundle } from '../test/support/broker-harness.js';
import { TestRedisServer } from '../test/support/redis-server.js';
import { memoryByThread, rssMb } from './bench-support.js';
import { messageJson } from './load-tally.js';

type Kind = 'ws' | 'submit';

interface Options {
  kinds: Kind[];
  steps: number[];
  snapshot: boolean;
  settleMs: number;
}

function parseArgs(argv: string[]): Options {
  const value = (name: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const kind = value('kind') ?? 'both';
  if (kind !== 'ws' && kind !== 'submit' && kind !== 'both') throw new Error('--kind is ws, submit or both');
  const steps = (value('steps') ?? '0,250,500,1000').split(',').map(Number);
  if (steps[0] !== 0 || steps.some((n, i) => !Number.isInteger(n) || (i > 0 && n <= steps[i - 1]!)))
    throw new Error('--steps: increasing integers from 0');
  return {
    kinds: kind === 'both' ? ['ws', 'submit'] : [kind],
    steps,
    snapshot: argv.includes('--snapshot'),
    settleMs: Number(value('settle-ms') ?? 3000),
  };
}

interface Step {
  connections: number;
  rss_mb: number;
  /** V8 heap used and external memory of each thread, MB. */
  threads: Record<string, number>;
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const results: Record<string, unknown> = {};
  for (const kind of options.kinds) results[kind] = await measure(kind, options);
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
}

async function measure(kind: Kind, options: Options): Promise<Record<string, unknown>> {
  const redis = await TestRedisServer.create('everysec');
  const max = options.steps.at(-1)!;
  const workspace = await createWorkspace(
    {
      log: { level: 'warn' },
      limits: { rate_limit: 1_000_000_000, daily_quota: 1_000_000_000 },
      // Idle connections must stay open for the whole measurement.
      // One client holds every socket here: its per-client bounds are lifted.
      server: {
        keep_alive_timeout_ms: 600_000,
        connection_max_lifetime_ms: 3_600_000,
        max_connections_per_client: 2 * max + 10,
      },
      events: { ws_max_subscribers: max + 10, ws_max_subscribers_per_client: max + 10 },
    },
    redis.url,
  );
  // Port 0: the kernel picks one, the broker prints it (a port chosen here could be taken meanwhile).
  const broker = new BrokerProcess(workspace, {}, ['--inspect=127.0.0.1:0']);
  const open: Array<{ close(): void }> = [];
  try {
    await broker.start();
    const pid = broker.child!.pid!;
    const bundle = demoBundle(workspace);
    const context = createSecureContext({ cert: bundle.cert, key: bundle.key, ca: bundle.ca });
    // The last one: the broker re-executes itself once (main-heap.ts), the first inspector is gone.
    const inspectorUrl = [...broker.output.matchAll(/Debugger listening on (ws:\/\/\S+)/g)].at(-1)?.[1];
    if (!inspectorUrl) throw new Error(`the broker printed no inspector URL:\n${broker.output.slice(-2000)}`);
    const inspector = await Inspector.connect(inspectorUrl);
    const steps: Step[] = [];
    const snapshots: HeapCensus[] = [];
    for (const target of options.steps) {
      while (open.length < target) {
        const batch = Math.min(50, target - open.length);
        const opened = await Promise.all(
          Array.from({ length: batch }, () =>
            kind === 'ws' ? openEventSocket(broker.url, bundle) : openSubmitConnection(broker.url, context),
          ),
        );
        open.push(...opened);
      }
      steps.push(await settle(pid, broker.url, bundle, inspector, target, options.settleMs));
      if (options.snapshot && (target === 0 || target === max)) snapshots.push(await inspector.census());
    }
    inspector.close();
    const first = steps[0]!;
    const perConnection = steps.slice(1).map((step) => ({
      connections: step.connections,
      rss_kb: Math.round(((step.rss_mb - first.rss_mb) * 1024) / step.connections),
      ...Object.fromEntries(
        Object.entries(step.threads).map(([name, mb]) => [
          `${name}_kb`,
          Math.round(((mb - (first.threads[name] ?? 0)) * 1024) / step.connections),
        ]),
      ),
    }));
    return {
      steps,
      per_connection: perConnection,
      ...(snapshots.length === 2 ? { heap_per_connection: snapshots[1]!.diff(snapshots[0]!, max) } : {}),
    };
  } finally {
    for (const connection of open) connection.close();
    // A broker that does not stop within 15 s is killed: the bench must not hang on it.
    const stopped = broker.kill('SIGTERM');
    await withTimeout(stopped, 15_000, 'broker stop').catch(() => broker.kill('SIGKILL'));
    await workspace.cleanup();
    await redis.destroy();
  }
}

/** Collects the main thread's garbage twice, waits, and reads RSS and /metrics. */
async function settle(
  pid: number,
  url: string,
  bundle: ClientBundle,
  inspector: Inspector,
  connections: number,
  settleMs: number,
): Promise<Step> {
  await new Promise((r) => setTimeout(r, settleMs));
  await inspector.collectGarbage();
  await inspector.collectGarbage();
  await new Promise((r) => setTimeout(r, 1000));
  const threads = await memoryByThread(url, bundle.ca, 'used', 2);
  return { connections, rss_mb: rssMb(pid), threads };
}

/** An idle event WebSocket, once the broker said `subscribed`. */
function openEventSocket(url: string, bundle: ClientBundle): Promise<{ close(): void }> {
  const socket = new WebSocket(`${url.replace(/^https/, 'wss')}/api/v1/events`, bundle);
  const subscribed = new Promise<{ close(): void }>((resolve, reject) => {
    socket.once('error', reject);
    socket.once('close', (code) => reject(new Error(`event socket closed with ${code} before subscribed`)));
    socket.on('message', (data) => {
      if ((JSON.parse(data.toString()) as { type: string }).type === 'subscribed')
        resolve({ close: () => socket.terminate() });
    });
  });
  return withTimeout(subscribed, 60_000, 'event socket');
}

/** A keep-alive connection that submitted one message (202) and now sits idle. */
function openSubmitConnection(url: string, context: SecureContext): Promise<{ close(): void }> {
  const { hostname, port } = new URL(url);
  const body = messageJson(160);
  const accepted = new Promise<{ close(): void }>((resolve, reject) => {
    const socket: TLSSocket = tlsConnect({
      host: hostname,
      port: Number(port),
      secureContext: context,
      servername: hostname,
    });
    socket.once('error', reject);
    socket.once('close', () => reject(new Error('submit connection closed before its 202')));
    let response = '';
    socket.on('data', (chunk: Buffer) => {
      response += chunk.toString('latin1');
      const end = response.indexOf('\r\n\r\n');
      if (end < 0) return;
      const length = Number(/content-length: *(\d+)/i.exec(response.slice(0, end))?.[1] ?? 0);
      if (response.length < end + 4 + length) return;
      if (!response.startsWith('HTTP/1.1 202')) return reject(new Error(response.slice(0, 200)));
      socket.removeAllListeners('data');
      resolve({ close: () => socket.destroy() });
    });
    socket.once('secureConnect', () =>
      socket.write(
        `POST /api/v1/messages HTTP/1.1\r\nhost: ${hostname}\r\ncontent-type: application/json\r\n` +
          `content-length: ${Buffer.byteLength(body)}\r\nconnection: keep-alive\r\n\r\n${body}`,
      ),
    );
  });
  return withTimeout(accepted, 60_000, 'submit connection');
}

/** Fails instead of waiting forever: on a loaded box a lost answer must not hang the bench. */
function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** The main thread's inspector (loopback), for garbage collection and heap snapshots. */
class Inspector {
  private nextId = 1;
  private readonly waiting = new Map<number, (result: unknown) => void>();
  private chunks: string[] = [];

  private constructor(private readonly socket: WebSocket) {
    socket.on('message', (data) => {
      const message = JSON.parse(data.toString()) as { id?: number; method?: string; params?: { chunk: string } };
      if (message.method === 'HeapProfiler.addHeapSnapshotChunk') this.chunks.push(message.params!.chunk);
      else if (message.id !== undefined) this.waiting.get(message.id)?.(message);
    });
  }

  static async connect(url: string): Promise<Inspector> {
    const socket = new WebSocket(url, { maxPayload: 1 << 30 });
    await withTimeout(
      new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject)),
      10_000,
      'inspector connect',
    );
    return new Inspector(socket);
  }

  private call(method: string, params: Record<string, unknown> = {}): Promise<unknown> {
    const id = this.nextId++;
    return withTimeout(
      new Promise((resolve) => {
        this.waiting.set(id, resolve);
        this.socket.send(JSON.stringify({ id, method, params }));
      }),
      120_000,
      method,
    );
  }

  async collectGarbage(): Promise<void> {
    await this.call('HeapProfiler.collectGarbage');
  }

  async census(): Promise<HeapCensus> {
    this.chunks = [];
    await this.call('HeapProfiler.takeHeapSnapshot', { reportProgress: false });
    const snapshot = JSON.parse(this.chunks.join('')) as HeapSnapshot;
    this.chunks = [];
    return HeapCensus.of(snapshot);
  }

  close(): void {
    this.socket.close();
  }
}

interface HeapSnapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
  nodes: number[];
  strings: string[];
}

/** Count and self size of a heap snapshot's nodes, by type and name (constructor). */
class HeapCensus {
  private constructor(readonly byName: Map<string, { count: number; bytes: number }>) {}

  static of(snapshot: HeapSnapshot): HeapCensus {
    const fields = snapshot.snapshot.meta.node_fields;
    const width = fields.length;
    const typeAt = fields.indexOf('type');
    const nameAt = fields.indexOf('name');
    const sizeAt = fields.indexOf('self_size');
    const types = snapshot.snapshot.meta.node_types[0];
    const byName = new Map<string, { count: number; bytes: number }>();
    for (let i = 0; i < snapshot.nodes.length; i += width) {
      const type = types[snapshot.nodes[i + typeAt]!]!;
      const name =
        type === 'string' || type === 'concatenated string' || type === 'sliced string'
          ? '(string)'
          : `${type}:${snapshot.strings[snapshot.nodes[i + nameAt]!]!.slice(0, 60)}`;
      const entry = byName.get(name) ?? { count: 0, bytes: 0 };
      entry.count++;
      entry.bytes += snapshot.nodes[i + sizeAt]!;
      byName.set(name, entry);
    }
    return new HeapCensus(byName);
  }

  /** What this census holds more than `base`, per connection, largest first. */
  diff(base: HeapCensus, connections: number): Record<string, unknown> {
    const rows: Array<[string, number, number]> = [];
    let total = 0;
    for (const [name, { count, bytes }] of this.byName) {
      const before = base.byName.get(name) ?? { count: 0, bytes: 0 };
      const extra = bytes - before.bytes;
      total += extra;
      rows.push([name, (count - before.count) / connections, extra / connections]);
    }
    rows.sort((a, b) => b[2] - a[2]);
    return {
      total_bytes: Math.round(total / connections),
      top: rows.slice(0, 40).map(([name, count, bytes]) => ({
        name,
        count: Math.round(count * 100) / 100,
        bytes: Math.round(bytes),
      })),
    };
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${(error as Error).stack}\n`);
  process.exit(1);
});
