/**
 * What acknowledging a stored batch costs, by way of sending it: the pipeline the store
 * path sent before (XACK + XDEL + HDEL per stream, an XADD per status event, XTRIM and
 * PEXPIRE per client) and `store-ack-n.lua` (one call). Store-target messages (a `stored`
 * and a `delivered` event each) of `--clients` clients in one domain, entries of the
 * broker's shape (sealed envelopes) read through the consumer group as the store path
 * reads them. Per message: this process's CPU (building the commands, parsing the
 * replies: what the delivery actor pays) and the CPU of a redis-server of its own (AOF
 * everysec, so INFO cpu counts nothing else). The variants take turns batch by batch.
 *
 *   npx tsx bench/store-ack-cost.ts [--messages 60000] [--batch 100] [--clients 1] [--rounds 3]
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import type { StatusEventInput } from '../src/events/status-event.js';
import { domainKeys } from '../src/queue/keys.js';
import { defineScripts, scriptedPipeline } from '../src/queue/scripts.js';
import { addStatusEvents } from '../src/queue/status-events.js';
import { acknowledgeStored, type StoredMessage } from '../src/queue/store-ack.js';
import { acknowledge, ensureGroups, readEntries, type StreamEntry } from '../src/queue/stream-reader.js';
import { addEnqueue, type EnqueuedMessage } from '../src/queue/stream-writer.js';
import { TestRedisServer } from '../test/support/redis-server.js';
import { testSealer } from '../test/support/test-keys.js';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '60000' },
    batch: { type: 'string', default: '100' },
    clients: { type: 'string', default: '1' },
    rounds: { type: 'string', default: '3' },
  },
});
const total = Number(values.messages);
const batchSize = Number(values.batch);
const clients = Number(values.clients);
const retention = { retention_ms: 3_600_000, max_per_client: 10_000 };
const prefix = 'bench:';
const domain = 'default';

const server = await TestRedisServer.create();
const redis = new Redis(server.url, { protocol: 2 });
defineScripts(redis);
const keys = domainKeys(prefix, { key_prefix: domain });
await ensureGroups(redis, [keys.stream]);
const seal = testSealer();

const redisCpuUs = async () => {
  const info = await redis.info('cpu');
  const value = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
  return (value('used_cpu_user') + value('used_cpu_sys')) * 1_000_000;
};

/** Appends `count` messages as the ingest actor does (enqueue-n.lua, limits and events off). */
async function fill(count: number): Promise<void> {
  for (let done = 0; done < count; done += 500) {
    const n = Math.min(500, count - done);
    const messages: EnqueuedMessage[] = [];
    for (let i = 0; i < n; i++) {
      const m = randomUUID();
      const [sealed] = seal([{ message_id: m, sender_number: '+14155550123', message_body: 'x'.repeat(160) }]);
      messages.push({
        m,
        be: Buffer.from(sealed!.body_enc),
        se: Buffer.from(sealed!.sender_enc),
        h: sealed!.sender_hash,
        p: sealed!.pepper_id,
        sm: sealed!.sender_masked,
        md: '',
        q: new Date().toISOString(),
      });
    }
    const pipeline = scriptedPipeline(redis);
    addEnqueue(pipeline, {
      stream: keys.stream,
      queued: keys.queued,
      idempotencyTtlMs: 60_000,
      clients: [
        {
          clientId: 1,
          clientName: 'bench',
          limitsKey: `${prefix}limits`,
          rateLimit: 0,
          rateWindowMs: 1000,
          dailyQuota: 0,
        },
      ],
      requests: [{ client: 0, recordKey: null, requestHash: '', trackingId: 't', timestamp: 'now', messages }],
    });
    await pipeline.exec();
  }
}

function storedOf(entries: StreamEntry[]): StoredMessage[] {
  return entries.map((e, i) => {
    const client = (i % clients) + 1;
    return { message_id: e.fields!.m, client, client_id: `c${client}.${domain}`, domain, delivered: true };
  });
}

const variants = {
  pipeline: async (entries: StreamEntry[], at: string) => {
    const events: StatusEventInput[] = [];
    for (const s of storedOf(entries)) {
      const event = { message_id: s.message_id, client: s.client, client_id: s.client_id };
      events.push({ ...event, domain, type: 'stored', attempt: 0, at });
      events.push({ ...event, domain, type: 'delivered', attempt: 1, at });
    }
    await acknowledge(
      redis,
      entries,
      () => keys.queued,
      (pipeline) => addStatusEvents(pipeline, prefix, retention, events),
    );
  },
  script: async (entries: StreamEntry[], at: string) => {
    await acknowledgeStored(redis, {
      prefix,
      retention,
      queuedIndexOf: () => keys.queued,
      entries,
      stored: storedOf(entries),
      at,
    });
  },
};

type Name = keyof typeof variants;
const totals = new Map<Name, { js: number; redis: number; messages: number }[]>();
for (let round = 0; round < Number(values.rounds); round++) {
  await fill(total);
  const sums = new Map<Name, { js: number; redis: number; messages: number }>();
  for (const name of Object.keys(variants) as Name[]) sums.set(name, { js: 0, redis: 0, messages: 0 });
  let turn = 0;
  for (;;) {
    const entries = await readEntries(redis, 'bench', [keys.stream], batchSize, false, 10);
    if (entries.length === 0) break;
    const name = (Object.keys(variants) as Name[])[turn++ % 2]!;
    const at = new Date().toISOString();
    const redisBefore = await redisCpuUs();
    const cpu = process.cpuUsage();
    await variants[name](entries, at);
    const used = process.cpuUsage(cpu);
    const redisUsed = (await redisCpuUs()) - redisBefore;
    const sum = sums.get(name)!;
    sum.js += used.user + used.system;
    sum.redis += redisUsed;
    sum.messages += entries.length;
  }
  for (const [name, sum] of sums) totals.set(name, [...(totals.get(name) ?? []), sum]);
  await redis.flushall();
  await ensureGroups(redis, [keys.stream]);
}

const report: Record<string, unknown> = { messages: total, batch: batchSize, clients, rounds: values.rounds };
for (const [name, runs] of totals) {
  report[name] = runs.map((r) => ({
    client_us_per_message: Math.round((r.js / r.messages) * 100) / 100,
    redis_us_per_message: Math.round((r.redis / r.messages) * 100) / 100,
  }));
}
process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
redis.disconnect();
await server.destroy();
