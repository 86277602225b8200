/**
 * What a hand-off between two threads costs: the front (producer) hands batches of
 * realistic EnqueueRequests to a worker (consumer, standing in for the ingest actor) that
 * answers each batch at once, at a fixed request rate, by way of transport:
 *
 *   none    no thread: the batch is answered in the producer's own thread (the floor: the
 *           producer's cost of building requests, pacing and settling promises)
 *   rpc     today's RpcPeer over the Worker port (postMessage + structured clone both ways)
 *   string  postMessage of the batch as JSON text (a string clones as one memcpy) both ways
 *   ring    SharedArrayBuffer rings (bench/shared-ring.ts), JSON text, Atomics.waitAsync
 *           on the reading side and Atomics.notify only when the reader is parked
 *
 * Pacing: a 1 ms timer hands off the requests due since the last tick in batches of
 * `batch` (like the front's IngestClient gathering one event-loop turn). CPU is each
 * thread's own (process.threadCpuUsage), per 1,000 requests; latency is hand-off → answer
 * in the producer.
 *
 *   npx tsx bench/handoff-cost.ts [--variants none,rpc,string,ring] [--rates 2000,8000,20000]
 *     [--batches 1,4,16] [--repeats 3] [--seconds 3]
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import type { EnqueueRequest, EnqueueResult } from '../src/ingest/ingest.types.js';
import { RpcPeer, type PortLike } from '../src/rpc/rpc-peer.js';
import { createRing, RingReader, RingWriter, type RingHandle } from './shared-ring.js';

type Variant = 'none' | 'rpc' | 'string' | 'ring';
type HandoffProtocol = {
  'ingest.append': { request: { requests: EnqueueRequest[] }; response: { results: EnqueueResult[] } };
};
interface ConsumerData {
  variant: Variant;
  rings?: { requests: RingHandle; replies: RingHandle };
}
interface CpuReport {
  kind: 'cpu';
  userUs: number;
  systemUs: number;
}

const BODY =
  'Your verification code is 482913. It expires in 10 minutes. If you did not ask for it, ignore this message; ' +
  'never share it with anyone, not even our staff.';

function makeRequest(): EnqueueRequest {
  const now = new Date().toISOString();
  return {
    client_id: 42,
    client_name: 'modem-17',
    common_name: 'modem-17.example.org',
    domain: 'example.org',
    idempotency: null,
    tracking_id: randomUUID(),
    timestamp: now,
    messages: [
      { message_id: randomUUID(), sender_number: '+14155550123', message_body: BODY, metadata: '', queued_at: now },
    ],
  };
}

let position = 0;
/** What the ingest actor answers for one request that was appended. */
function answer(requests: EnqueueRequest[]): EnqueueResult[] {
  return requests.map((r) => ({
    ok: true,
    kind: 'done',
    positions: r.messages.map(() => ++position),
    rate: null,
    quota: null,
  }));
}

// ── Consumer (the worker thread) ─────────────────────────────────────────────────────
function runConsumer(): void {
  const { variant, rings } = workerData as ConsumerData;
  const port = parentPort!;
  // The control messages ('cpu?') share the port with the string variant's batches.
  const control = (message: unknown): boolean => {
    if (message !== 'cpu?') return false;
    const { user, system } = process.threadCpuUsage();
    port.postMessage({ kind: 'cpu', userUs: user, systemUs: system } satisfies CpuReport);
    return true;
  };
  if (variant === 'rpc') {
    const peer = new RpcPeer<Record<never, never>, HandoffProtocol>({ peerName: 'front' });
    peer.handle({ 'ingest.append': ({ requests }) => ({ results: answer(requests) }) });
    port.on('message', control);
    peer.attach(port as unknown as PortLike);
  } else if (variant === 'string') {
    port.on('message', (message: unknown) => {
      if (control(message)) return;
      const { id, requests } = JSON.parse(message as string) as { id: number; requests: EnqueueRequest[] };
      port.postMessage(JSON.stringify({ id, results: answer(requests) }));
    });
  } else if (variant === 'ring') {
    port.on('message', control);
    const reader = new RingReader(rings!.requests);
    const writer = new RingWriter(rings!.replies);
    const serve = async () => {
      while (!reader.closed) {
        await reader.waitForFrames();
        for (const frame of reader.readAll()) {
          const { id, requests } = JSON.parse(frame) as { id: number; requests: EnqueueRequest[] };
          const reply = JSON.stringify({ id, results: answer(requests) });
          while (writer.write(reply) === 'full') await new Promise((r) => setImmediate(r));
        }
      }
    };
    void serve();
  }
  port.postMessage('ready');
}

// ── Producer (the front) ─────────────────────────────────────────────────────────────
interface Transport {
  send(requests: EnqueueRequest[]): Promise<EnqueueResult[]>;
  consumerCpu(): Promise<{ userUs: number; systemUs: number } | null>;
  close(): Promise<void>;
}

async function openTransport(variant: Variant): Promise<Transport> {
  if (variant === 'none')
    return {
      send: (requests) => Promise.resolve(answer(requests)),
      consumerCpu: () => Promise.resolve(null),
      close: () => Promise.resolve(),
    };
  const rings = variant === 'ring' ? { requests: createRing(1 << 20), replies: createRing(1 << 20) } : undefined;
  const worker = new Worker(new URL(import.meta.url), { workerData: { variant, rings } satisfies ConsumerData });
  await new Promise<void>((resolve) => worker.once('message', () => resolve()));
  let cpuWaiter: ((r: CpuReport) => void) | undefined;
  const onMessage = (m: unknown) => {
    if (typeof m === 'object' && m && (m as CpuReport).kind === 'cpu') cpuWaiter?.(m as CpuReport);
  };
  worker.on('message', onMessage);
  const consumerCpu = () =>
    new Promise<CpuReport>((resolve) => {
      cpuWaiter = resolve;
      worker.postMessage('cpu?');
    });
  const close = async () => {
    await worker.terminate();
  };

  if (variant === 'rpc') {
    const peer = new RpcPeer<HandoffProtocol>({ peerName: 'consumer', timeoutMs: 5000 }, worker as unknown as PortLike);
    return {
      send: (requests) => peer.call('ingest.append', { requests }).then((r) => r.results),
      consumerCpu,
      close,
    };
  }

  // string and ring keep their own calls, with the same deadline sweep as RpcPeer.
  const pending = new Map<number, { resolve: (r: EnqueueResult[]) => void; deadline: number }>();
  let nextId = 1;
  const settle = (text: string) => {
    const { id, results } = JSON.parse(text) as { id: number; results: EnqueueResult[] };
    const call = pending.get(id);
    if (!call) return;
    pending.delete(id);
    call.resolve(results);
  };
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [id, call] of pending) if (call.deadline <= now) pending.delete(id);
  }, 100);
  sweep.unref();

  if (variant === 'string') {
    worker.on('message', (m: unknown) => {
      if (typeof m === 'string') settle(m);
    });
    return {
      send: (requests) =>
        new Promise((resolve) => {
          const id = nextId++;
          pending.set(id, { resolve, deadline: Date.now() + 5000 });
          worker.postMessage(JSON.stringify({ id, requests }));
        }),
      consumerCpu,
      close: async () => {
        clearInterval(sweep);
        await close();
      },
    };
  }

  const writer = new RingWriter(rings!.requests);
  const reader = new RingReader(rings!.replies);
  const backlog: string[] = [];
  const pump = () => {
    while (backlog.length > 0 && writer.write(backlog[0]!) === 'ok') backlog.shift();
    if (backlog.length > 0) setImmediate(pump);
  };
  void (async () => {
    while (!reader.closed) {
      await reader.waitForFrames();
      for (const frame of reader.readAll()) settle(frame);
    }
  })();
  return {
    send: (requests) =>
      new Promise((resolve) => {
        const id = nextId++;
        pending.set(id, { resolve, deadline: Date.now() + 5000 });
        const text = JSON.stringify({ id, requests });
        if (backlog.length > 0 || writer.write(text) !== 'ok') {
          backlog.push(text);
          if (backlog.length === 1) setImmediate(pump);
        }
      }),
    consumerCpu,
    close: async () => {
      clearInterval(sweep);
      writer.close();
      reader.close();
      await close();
    },
  };
}

interface RunResult {
  variant: Variant;
  rate: number;
  batch: number;
  requests: number;
  producerMsPer1k: number;
  consumerMsPer1k: number | null;
  p50Ms: number;
  p99Ms: number;
}

async function run(variant: Variant, rate: number, batch: number, seconds: number): Promise<RunResult> {
  const transport = await openTransport(variant);
  const latencies: number[] = [];
  let measuring = false;
  let issued = 0;
  let answered = 0;
  const started = performance.now();
  let carry: EnqueueRequest[] = [];

  const handOff = (requests: EnqueueRequest[]) => {
    const t0 = performance.now();
    const counted = measuring;
    void transport.send(requests).then(() => {
      const ms = performance.now() - t0;
      if (counted) {
        answered += requests.length;
        for (let i = 0; i < requests.length; i++) latencies.push(ms);
      }
    });
  };
  const tick = () => {
    const due = Math.floor(((performance.now() - started) / 1000) * rate) - issued;
    for (let i = 0; i < due; i++) {
      carry.push(makeRequest());
      if (carry.length === batch) {
        handOff(carry);
        carry = [];
      }
    }
    issued += Math.max(0, due);
  };
  const pace = async (ms: number) => {
    const end = performance.now() + ms;
    while (performance.now() < end) {
      await new Promise((r) => setTimeout(r, 1));
      tick();
    }
  };

  await pace(700); // warm-up: JIT, worker start
  measuring = true;
  const cpu0 = process.threadCpuUsage();
  const consumer0 = await transport.consumerCpu();
  const issued0 = issued;
  await pace(seconds * 1000);
  const cpu1 = process.threadCpuUsage();
  const consumer1 = await transport.consumerCpu();
  const requests = issued - issued0;
  measuring = false;
  await new Promise((r) => setTimeout(r, 200)); // answers in flight
  await transport.close();
  latencies.sort((a, b) => a - b);
  const pick = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
  const per1k = (us: number) => us / 1000 / (requests / 1000);
  if (answered < requests - batch * 2) console.error(`  ${variant}: only ${answered}/${requests} answered`);
  return {
    variant,
    rate,
    batch,
    requests,
    producerMsPer1k: per1k(cpu1.user - cpu0.user + cpu1.system - cpu0.system),
    consumerMsPer1k:
      consumer0 && consumer1
        ? per1k(consumer1.userUs - consumer0.userUs + consumer1.systemUs - consumer0.systemUs)
        : null,
    p50Ms: pick(0.5),
    p99Ms: pick(0.99),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      variants: { type: 'string', default: 'none,rpc,string,ring' },
      rates: { type: 'string', default: '2000,8000,20000' },
      batches: { type: 'string', default: '1,4,16' },
      repeats: { type: 'string', default: '3' },
      seconds: { type: 'string', default: '3' },
    },
  });
  const variants = values.variants.split(',') as Variant[];
  const rates = values.rates.split(',').map(Number);
  const batches = values.batches.split(',').map(Number);
  const seconds = Number(values.seconds);
  const results: RunResult[] = [];
  // Variants alternate inside each repeat, so a busy moment of the box hits them all alike.
  for (let repeat = 0; repeat < Number(values.repeats); repeat++)
    for (const rate of rates)
      for (const batch of batches)
        for (const variant of variants) {
          const r = await run(variant, rate, batch, seconds);
          results.push(r);
          console.error(
            `#${repeat + 1} ${variant.padEnd(6)} ${rate}/s batch ${batch}: producer ${r.producerMsPer1k.toFixed(1)} ms/1k, ` +
              `consumer ${r.consumerMsPer1k?.toFixed(1) ?? '-'} ms/1k, p50 ${r.p50Ms.toFixed(3)} ms, p99 ${r.p99Ms.toFixed(3)} ms`,
          );
        }
  console.log('| rate/s | batch | variant | producer CPU ms/1k req | consumer CPU ms/1k req | p50 ms | p99 ms |');
  console.log('|---:|---:|---|---:|---:|---:|---:|');
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  for (const rate of rates)
    for (const batch of batches)
      for (const variant of variants) {
        const runs = results.filter((r) => r.variant === variant && r.rate === rate && r.batch === batch);
        const fmt = (xs: number[], d: number) => `${median(xs).toFixed(d)} (${xs.map((x) => x.toFixed(d)).join('/')})`;
        const consumer = runs.every((r) => r.consumerMsPer1k !== null)
          ? fmt(
              runs.map((r) => r.consumerMsPer1k!),
              1,
            )
          : '-';
        console.log(
          `| ${rate} | ${batch} | ${variant} | ${fmt(
            runs.map((r) => r.producerMsPer1k),
            1,
          )} | ${consumer} | ${median(runs.map((r) => r.p50Ms)).toFixed(3)} | ${median(runs.map((r) => r.p99Ms)).toFixed(3)} |`,
        );
      }
}

if (isMainThread) await main();
else runConsumer();
