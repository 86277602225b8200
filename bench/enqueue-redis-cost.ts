/**
 * Redis CPU per appended message, by way of append: the plain pipelined XADD (+ XLEN per
 * batch) the broker used before the limits, and `enqueue-n.lua` — one call per message
 * (what a script per request would cost), and one call per batch as the ingest actor
 * sends it, with limits off, with rate limit and quota, with an Idempotency-Key on every
 * request; for one client, and for 512 clients sending one message each (a fleet of
 * modems). A redis-server of its own (AOF everysec), so INFO cpu counts nothing else;
 * batches of 512, as the ingest actor sends under load.
 *
 *   npx tsx bench/enqueue-redis-cost.ts [--messages 200000] [--only 'batch call']
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { defineScripts, scriptedPipeline } from '../src/queue/scripts.js';
import { testSealer } from '../test/support/test-keys.js';
import { addEnqueue, type EnqueueCall, type EnqueuedMessage } from '../src/queue/stream-writer.js';
import { TestRedisServer } from '../test/support/redis-server.js';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '200000' },
    batch: { type: 'string', default: '512' },
    only: { type: 'string' },
  },
});
const total = Number(values.messages);
const batchSize = Number(values.batch);

const server = await TestRedisServer.create();
const redis = new Redis(server.url, { protocol: 2 });
defineScripts(redis);

const cpuUs = async () => {
  const info = await redis.info('cpu');
  const value = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
  return (value('used_cpu_user') + value('used_cpu_sys')) * 1_000_000;
};

const seal = testSealer();
const fields = (): EnqueuedMessage => {
  const m = randomUUID();
  const [sealed] = seal([
    {
      message_id: m,
      sender_number: '+14155550123',
      message_body: 'Load test message of a typical length, about sixty characters.',
    },
  ]);
  return {
    m,
    be: Buffer.from(sealed!.body_enc),
    se: Buffer.from(sealed!.sender_enc),
    h: sealed!.sender_hash,
    p: sealed!.pepper_id,
    sm: sealed!.sender_masked,
    md: '',
    q: new Date().toISOString(),
  };
};

interface Variant {
  name: string;
  /** Messages per script call (1 = a call per message). */
  perCall: number;
  clients: number;
  limits: boolean;
  idempotent: boolean;
}

const ALL_VARIANTS: Variant[] = [
  { name: 'call per message, limits off', perCall: 1, clients: 1, limits: false, idempotent: false },
  { name: 'call per message, limits', perCall: 1, clients: 1, limits: true, idempotent: false },
  { name: 'batch call, limits off', perCall: batchSize, clients: 1, limits: false, idempotent: false },
  { name: 'batch call, limits, 1 client', perCall: batchSize, clients: 1, limits: true, idempotent: false },
  { name: 'batch call, limits, 512 clients', perCall: batchSize, clients: batchSize, limits: true, idempotent: false },
  {
    name: 'batch call, limits off, 512 clients',
    perCall: batchSize,
    clients: batchSize,
    limits: false,
    idempotent: false,
  },
  { name: 'batch call, limits + keys', perCall: batchSize, clients: 1, limits: true, idempotent: true },
];
const VARIANTS = values.only ? ALL_VARIANTS.filter((v) => v.name.includes(values.only!)) : ALL_VARIANTS;

function callOf(variant: Variant, messages: EnqueuedMessage[]): EnqueueCall {
  const clients = Math.min(variant.clients, messages.length);
  return {
    stream: 'bench:stream',
    queued: 'bench:queued',
    idempotencyTtlMs: 86_400_000,
    clients: Array.from({ length: clients }, (_, c) => ({
      limitsKey: `bench:client:${c}:limits`,
      clientId: c + 1,
      clientName: 'demo',
      rateLimit: variant.limits ? 1e9 : 0,
      rateWindowMs: 60_000,
      dailyQuota: variant.limits ? 1e9 : 0,
    })),
    requests: messages.map((m, i) => ({
      client: i % clients,
      recordKey: variant.idempotent ? `bench:client:${i % clients}:idem:${m.m}` : null,
      requestHash: variant.idempotent ? 'a'.repeat(64) : '',
      trackingId: m.m,
      timestamp: m.q,
      messages: [m],
    })),
  };
}

async function runXadd(): Promise<number> {
  const before = await cpuUs();
  for (let sent = 0; sent < total; sent += batchSize) {
    const pipeline = redis.pipeline();
    for (let i = 0; i < batchSize; i++) {
      const f = fields();
      pipeline.xadd(
        'bench:stream',
        '*',
        'm',
        f.m,
        'c',
        '7',
        'n',
        'demo',
        'be',
        f.be,
        'se',
        f.se,
        'h',
        f.h,
        'p',
        f.p,
        'sm',
        f.sm,
        'md',
        f.md,
        'q',
        f.q,
      );
    }
    pipeline.xlen('bench:stream');
    await pipeline.exec();
  }
  const used = (await cpuUs()) - before;
  await redis.flushall();
  return used / total;
}

async function run(variant: Variant): Promise<number> {
  const before = await cpuUs();
  for (let sent = 0; sent < total; sent += batchSize) {
    const pipeline = scriptedPipeline(redis);
    const batch = Array.from({ length: batchSize }, fields);
    for (let i = 0; i < batch.length; i += variant.perCall)
      addEnqueue(pipeline, callOf(variant, batch.slice(i, i + variant.perCall)));
    const replies = (await pipeline.exec()) ?? [];
    if (replies[0]?.[0]) throw replies[0][0];
  }
  const used = (await cpuUs()) - before;
  await redis.flushall();
  return used / total;
}

const report = (name: string, perMessage: number) =>
  console.log(
    `${name.padEnd(32)} ${perMessage.toFixed(1).padStart(6)} µs Redis CPU per message  ⇒ ${Math.round(1_000_000 / perMessage)} msg/s per Redis core`,
  );

try {
  if (!values.only) report('plain XADD pipeline (before)', await runXadd());
  for (const variant of VARIANTS) report(variant.name, await run(variant));
} finally {
  redis.disconnect();
  await server.destroy();
}
