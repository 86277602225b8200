/**
 * The issue's "done when", against the real supervisor: under load, /metrics says exactly
 * how many messages were accepted, stored, delivered, retried and dead-lettered, the
 * numbers add up (with each other, with MySQL and with what the downstream saw), and
 * they stay exact and never go backwards across actor crashes. Then every log line the
 * run produced (stdout and logs/broker.log) is searched for the plaintexts and keys.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { createConnection } from 'mysql2/promise';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BrokerProcess,
  createWorkspace,
  demoBundle,
  mtlsAgent,
  postJson,
  sendJson,
  waitUntil,
  type Workspace,
} from '../support/broker-harness.js';
import { issueRegisteredClient } from '../support/client-certificates.js';
import { duplicateTopLevelKeys } from '../support/json-keys.js';
import { sampleId, scrapeMetrics, type Exposition } from '../support/metrics-scrape.js';
import { startDownstream, type Downstream } from '../support/webhook-downstream.js';

const SIGNING_SECRET = `signing-${randomBytes(8).toString('hex')}`;
const RUN = randomBytes(4).toString('hex');
const NUMBER_PREFIX = `+1415${String(Math.floor(Math.random() * 1000)).padStart(3, '0')}`;
/** Every body marker and number sent; none may appear in a log line. */
const plaintexts: string[] = [];

let downstream: Downstream;
let workspace: Workspace;
let broker: BrokerProcess;
let storeClient: Agent;
let hooksClient: Agent;
let loopback: Agent;

/** The downstream's behaviour is chosen by the body's first word. */
function answer(body: { message_body: string }, attempt: number): number {
  const kind = body.message_body.split(':')[0];
  if (kind === 'fail1') return attempt <= 1 ? 503 : 200;
  if (kind === 'dead') return 500;
  if (kind === 'reject') return 400;
  return 200;
}

let sequence = 0;
function message(kind: string): { sender_number: string; message_body: string } {
  const i = sequence++;
  const marker = `secret-${RUN}-${i}`;
  const sender_number = `${NUMBER_PREFIX}${String(i).padStart(4, '0')}`;
  plaintexts.push(marker, sender_number, sender_number.slice(1));
  return { sender_number, message_body: `${kind}: ${marker} Grüße ✓` };
}

beforeAll(async () => {
  downstream = await startDownstream(answer);
  workspace = await createWorkspace({
    log: { level: 'debug' },
    // The downstream fails on purpose; its breaker must not pause deliveries while counting.
    delivery: { retry_interval_ms: 300, max_attempts: 3, webhook_timeout_ms: 3000, breaker_failures: 10_000 },
    domains: [
      { name: 'default' },
      {
        name: 'hooks',
        target: { type: 'webhook', url: downstream.url, secret: SIGNING_SECRET, ca_file: downstream.caFile },
      },
    ],
  });
  broker = new BrokerProcess(workspace, { MB_FAULT_INJECTION: '1' });
  await broker.start();
  storeClient = mtlsAgent(demoBundle(workspace));
  hooksClient = mtlsAgent(await issueRegisteredClient(workspace, 'sender', 'hooks'));
  loopback = new Agent({ connect: { ca: demoBundle(workspace).ca } });
});

afterAll(async () => {
  for (const agent of [storeClient, hooksClient, loopback]) await agent?.close();
  await broker?.kill('SIGKILL');
  await workspace?.cleanup();
  await downstream?.close();
});

const scrape = () => scrapeMetrics(loopback, broker.url);

async function statusCounts(): Promise<Record<string, number>> {
  const connection = await createConnection({ uri: workspace.database.url });
  try {
    const [rows] = (await connection.query(
      'SELECT domain, status, COUNT(*) AS n FROM messages GROUP BY domain, status',
    )) as unknown as [Array<{ domain: string; status: string; n: number }>];
    return Object.fromEntries(rows.map((r) => [`${r.domain}/${r.status}`, Number(r.n)]));
  } finally {
    await connection.end();
  }
}

async function withRedis<T>(use: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis(workspace.redisUrl, { maxRetriesPerRequest: 1 });
  try {
    return await use(redis);
  } finally {
    redis.disconnect();
  }
}

/** No counter or histogram sample of `later` is below its value in `earlier`. */
function expectNeverBackwards(earlier: Exposition, later: Exposition): void {
  const now = new Map(later.monotonic().map((s) => [sampleId(s), s.value]));
  for (const sample of earlier.monotonic()) {
    if (sample.name.startsWith('nodejs_') || sample.name.startsWith('process_')) continue;
    expect(now.get(sampleId(sample)) ?? 0, sampleId(sample)).toBeGreaterThanOrEqual(sample.value);
  }
}

describe('metrics at the first scrape', () => {
  it("show the seed's counters at 0 for each known label value, before any request", async () => {
    const m = await scrape();
    const zeros: Array<[string, Record<string, string>]> = [
      ['proxy_messages_enqueued_total', { domain: 'default' }],
      ['proxy_messages_enqueued_total', { domain: 'hooks' }],
      ...[
        'INVALID_PAYLOAD',
        'MALFORMED_JSON',
        'TOO_MANY_REQUESTS',
        'QUOTA_EXCEEDED',
        'CERT_REVOKED',
        'QUEUE_UNAVAILABLE',
      ].map((reason): [string, Record<string, string>] => ['proxy_messages_failed_total', { reason }]),
      ...['valid', 'UNAUTHORIZED', 'CERT_UNKNOWN', 'CERT_REVOKED', 'CERT_EXPIRED'].map(
        (result): [string, Record<string, string>] => ['proxy_certificate_validations_total', { result }],
      ),
      ['proxy_requests_total', { method: 'POST', endpoint: '/api/v1/messages', status: '202' }],
      ['proxy_requests_total', { method: 'POST', endpoint: '/api/v1/messages/batch', status: '207' }],
      ['mb_api_throttled_total', { reason: 'rate' }],
      ['mb_api_throttled_total', { reason: 'quota' }],
      ['mb_api_idempotent_replays_total', {}],
    ];
    for (const [name, labels] of zeros) {
      const sample = m.samples.find(
        (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
      );
      expect(sample, `${name}${JSON.stringify(labels)} on the first scrape`).toBeDefined();
      expect(sample!.value, `${name}${JSON.stringify(labels)}`).toBe(0);
    }
  });
});

describe('metrics under load', () => {
  const sent = { store: 150, ok: 10, fail1: 5, dead: 5, reject: 3, invalid: 3 };

  it('count every message exactly, and the numbers add up', async () => {
    const jobs: Array<() => Promise<number>> = [];
    for (let i = 0; i < sent.store; i++)
      jobs.push(async () => (await postJson(storeClient, broker.url, message('store'))).status);
    for (const kind of ['ok', 'fail1', 'dead', 'reject'] as const) {
      for (let i = 0; i < sent[kind]; i++)
        jobs.push(async () => (await postJson(hooksClient, broker.url, message(kind))).status);
    }
    for (let i = 0; i < sent.invalid; i++) {
      const bad = message('invalid');
      jobs.push(
        async () =>
          (await postJson(storeClient, broker.url, { ...bad, sender_number: `${bad.sender_number}x` })).status,
      );
    }
    jobs.sort(() => Math.random() - 0.5);

    // Eight clients at once while a scraper reads /metrics every 100 ms.
    const statuses: number[] = [];
    let loading = true;
    const scrapes: Exposition[] = [];
    const scraper = (async () => {
      while (loading) {
        scrapes.push(await scrape());
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let job = jobs.shift(); job; job = jobs.shift()) statuses.push(await job());
      }),
    );
    // Scrapes are compared in the order they were made: stop the scraper before the next one.
    loading = false;
    await scraper;
    const accepted = sent.store + sent.ok + sent.fail1 + sent.dead + sent.reject;
    expect(statuses.filter((s) => s === 202)).toHaveLength(accepted);
    expect(statuses.filter((s) => s === 422)).toHaveLength(sent.invalid);

    const hooksStored = sent.ok + sent.fail1 + sent.dead + sent.reject;
    const settled = await waitUntil(
      async () => {
        const m = await scrape();
        const done =
          m.value('mb_messages_delivered_total', { domain: 'hooks' }) +
          m.value('mb_dead_letters_total', { domain: 'hooks' });
        return done === hooksStored && m.value('mb_messages_stored_total') === accepted ? m : undefined;
      },
      30_000,
      'every message stored and every webhook settled',
    );
    scrapes.push(settled);
    expect(scrapes.length).toBeGreaterThan(1);
    for (let i = 1; i < scrapes.length; i++) expectNeverBackwards(scrapes[i - 1]!, scrapes[i]!);

    const m = settled;
    const hooks = { domain: 'hooks' };
    const store = { domain: 'default' };
    // Accepted: 202s sent, and appends Redis took.
    expect(m.value('proxy_messages_enqueued_total', store)).toBe(sent.store);
    expect(m.value('proxy_messages_enqueued_total', hooks)).toBe(hooksStored);
    expect(m.value('mb_ingest_appended_total', store)).toBe(sent.store);
    expect(m.value('mb_ingest_appended_total', hooks)).toBe(hooksStored);
    expect(m.value('proxy_messages_failed_total', { reason: 'INVALID_PAYLOAD' })).toBe(sent.invalid);
    // Stored: all of them, nothing waits in Redis.
    expect(m.value('mb_messages_stored_total', store)).toBe(sent.store);
    expect(m.value('mb_messages_stored_total', hooks)).toBe(hooksStored);
    expect(m.value('redis_queue_size')).toBe(0);
    expect(m.value('mb_stream_oldest_unstored_age_seconds')).toBe(0);
    // Delivered: store target by being stored; webhooks on a 2xx (first or second attempt).
    expect(m.value('mb_messages_delivered_total', store)).toBe(sent.store);
    expect(m.value('mb_messages_delivered_total', hooks)).toBe(sent.ok + sent.fail1);
    // Retried: fail1 once, dead twice before its last attempt.
    const retries = sent.fail1 + sent.dead * 2;
    expect(m.value('mb_delivery_retries_scheduled_total', hooks)).toBe(retries);
    expect(m.value('mb_delivery_attempts_total', { ...hooks, outcome: 'retry' })).toBe(retries);
    // Dead-lettered: dead after 3 attempts, reject after 1 (a 4xx is final).
    expect(m.value('mb_dead_letters_total', hooks)).toBe(sent.dead + sent.reject);
    expect(m.value('mb_delivery_attempts_total', { ...hooks, outcome: 'dead' })).toBe(sent.dead + sent.reject);
    expect(m.value('mb_dead_letter_stream_length', hooks)).toBe(sent.dead + sent.reject);
    expect(m.value('mb_delivery_failures_total', { ...hooks, reason: 'http_5xx' })).toBe(sent.fail1 + sent.dead * 3);
    expect(m.value('mb_delivery_failures_total', { ...hooks, reason: 'http_4xx' })).toBe(sent.reject);
    // They add up: stored = delivered + dead-lettered + still waiting (none), and every POST is one attempt.
    expect(m.value('mb_messages_stored_total', hooks)).toBe(
      m.value('mb_messages_delivered_total', hooks) +
        m.value('mb_dead_letters_total', hooks) +
        m.value('mb_delivery_scheduled_messages', hooks) +
        m.value('mb_delivery_leased_messages', hooks),
    );
    expect(m.value('mb_delivery_attempts_total', hooks)).toBe(downstream.hits.length);
    // And MySQL agrees.
    expect(await statusCounts()).toEqual({
      'default/delivered': sent.store,
      'hooks/delivered': sent.ok + sent.fail1,
      'hooks/failed': sent.dead + sent.reject,
    });
    // Batch-level observations saw every stored message; encryption sealed each once.
    // A batch replayed after a failure or a reclaim is stored once (idempotent insert) but
    // sealed and observed again: these two count work done, not messages.
    expect(m.value('mb_storage_batch_size_sum')).toBeGreaterThanOrEqual(accepted);
    expect(m.value('mb_encryption_operations_total', { operation: 'seal' })).toBeGreaterThanOrEqual(accepted);
    expect(m.value('proxy_requests_total', { endpoint: '/api/v1/messages', status: '202' })).toBe(accepted);
  });

  it('stay exact and never go backwards when actors crash and restart', async () => {
    const before = await scrape();
    const storeSent = sent.store;
    // Counted after the last scrape, then the delivery actor dies: only its last words carry these.
    for (let i = 0; i < 10; i++) expect((await postJson(storeClient, broker.url, message('store'))).status).toBe(202);
    for (let i = 0; i < 3; i++) expect((await postJson(hooksClient, broker.url, message('ok'))).status).toBe(202);
    await waitUntil(
      async () => {
        const counts = await statusCounts();
        // And settled in Redis (no lease left): the dispatcher has counted them by then.
        const leased = await withRedis((redis) => redis.zcard(`${workspace.prefix}hooks:inflight`));
        return (
          counts['default/delivered'] === storeSent + 10 &&
          counts['hooks/delivered'] === sent.ok + sent.fail1 + 3 &&
          leased === 0
        );
      },
      15_000,
      'the new messages to be delivered',
    );
    await crash('delivery', 1);
    for (let i = 0; i < 2; i++) expect((await postJson(storeClient, broker.url, message('store'))).status).toBe(202);
    await waitUntil(
      async () => (await statusCounts())['default/delivered'] === storeSent + 12,
      15_000,
      'the last messages to be stored',
    );
    await crash('ingest', 1);

    const after = await scrape();
    expectNeverBackwards(before, after);
    expect(after.value('mb_ingest_appended_total', { domain: 'default' })).toBe(storeSent + 12);
    expect(after.value('mb_messages_stored_total', { domain: 'default' })).toBe(storeSent + 12);
    expect(after.value('mb_messages_delivered_total', { domain: 'default' })).toBe(storeSent + 12);
    expect(after.value('mb_messages_delivered_total', { domain: 'hooks' })).toBe(sent.ok + sent.fail1 + 3);
    expect(after.value('mb_delivery_attempts_total', { domain: 'hooks' })).toBe(downstream.hits.length);
    expect(after.value('proxy_messages_enqueued_total', { domain: 'default' })).toBe(storeSent + 12);
  });

  it('stay exact across a config reload that restarts the delivery actor gracefully', async () => {
    const before = await scrape();
    const stored = before.value('mb_messages_stored_total', { domain: 'default' });
    for (let i = 0; i < 3; i++) expect((await postJson(storeClient, broker.url, message('store'))).status).toBe(202);
    await waitUntil(
      async () => (await statusCounts())['default/delivered'] === stored + 3,
      15_000,
      'the new messages to be stored',
    );
    // A delivery setting changed: the delivery actor takes it by a graceful restart.
    const reloads = broker.output.split('"config reloaded"').length;
    workspace.reconfigure({ delivery: { ...(workspace.values.delivery as object), retry_interval_ms: 301 } });
    broker.child!.kill('SIGHUP');
    await waitUntil(
      async () => broker.output.split('"config reloaded"').length > reloads || undefined,
      20_000,
      'the reload to finish',
    );

    const after = await scrape();
    expectNeverBackwards(before, after);
    expect(after.value('mb_messages_stored_total', { domain: 'default' })).toBe(stored + 3);
    expect(after.value('mb_messages_delivered_total', { domain: 'default' })).toBe(stored + 3);
  });

  it('count a batch per message like single messages, and an idempotent replay not at all', async () => {
    const before = await scrape();
    const stored = before.value('mb_messages_stored_total', { domain: 'default' });
    const bad = message('invalid');
    const batch = {
      messages: [message('store'), { ...bad, sender_number: `${bad.sender_number}x` }, message('store')],
    };
    const batchKey = { 'idempotency-key': `batch-${RUN}` };
    const batchUrl = `${broker.url}/api/v1/messages/batch`;
    const first = await sendJson(storeClient, 'POST', batchUrl, batch, batchKey);
    expect(first.status).toBe(207);
    expect(first.body).toMatchObject({ accepted: 2, refused: 1 });
    const again = await sendJson(storeClient, 'POST', batchUrl, batch, batchKey);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.body).toEqual(first.body);
    // The single route: one accepted and one refused, each sent twice with its key.
    const single = message('store');
    const singleBad = message('invalid');
    for (const [body, key, status] of [
      [single, `single-${RUN}`, 202],
      [{ ...singleBad, sender_number: `${singleBad.sender_number}x` }, `single-bad-${RUN}`, 422],
    ] as const) {
      const answer = await postJson(storeClient, broker.url, body, { 'idempotency-key': key });
      const replayed = await postJson(storeClient, broker.url, body, { 'idempotency-key': key });
      expect([answer.status, replayed.status, replayed.headers['idempotent-replayed']]).toEqual([
        status,
        status,
        'true',
      ]);
    }

    const after = await waitUntil(
      async () => {
        const m = await scrape();
        return m.value('mb_messages_stored_total', { domain: 'default' }) === stored + 3 ? m : undefined;
      },
      15_000,
      'the three new messages to be stored',
    );
    const delta = (name: string, labels: Record<string, string> = {}) =>
      after.value(name, labels) - before.value(name, labels);
    // Queued: 2 from the batch, 1 single; the replays queued nothing and counted nothing.
    expect(delta('proxy_messages_enqueued_total', { domain: 'default' })).toBe(3);
    expect(delta('mb_ingest_appended_total', { domain: 'default' })).toBe(3);
    // Refused: the batch's invalid item and the single invalid message, once each.
    expect(delta('proxy_messages_failed_total', { reason: 'INVALID_PAYLOAD' })).toBe(2);
    expect(delta('proxy_messages_failed_total')).toBe(2);
    expect(delta('mb_api_idempotent_replays_total')).toBe(3);
    expect(delta('proxy_requests_total', { endpoint: '/api/v1/messages/batch', status: '207' })).toBe(2);
    // And the identity holds over the whole run: enqueued = appended = stored (nothing waits).
    expect(after.value('proxy_messages_enqueued_total')).toBe(after.value('mb_ingest_appended_total'));
    expect(after.value('mb_messages_stored_total')).toBe(after.value('mb_ingest_appended_total'));
  });

  async function crash(actor: string, restarts: number): Promise<void> {
    const response = await request(`${broker.url}/__test/actors/${actor}/crash`, {
      method: 'POST',
      dispatcher: loopback,
    });
    await response.body.dump();
    expect(response.statusCode).toBe(202);
    await waitUntil(
      async () => {
        const m = await scrape();
        return (
          m.value('mb_actor_restarts_total', { actor }) === restarts &&
          m.value('mb_actor_up', { actor }) === 1 &&
          m.value('mb_metrics_actor_reading_age_seconds', { actor }) === 0
        );
      },
      20_000,
      `the ${actor} actor to come back`,
    );
  }
});

describe('logs', () => {
  const logFile = () => readFileSync(join(workspace.dir, 'logs/broker.log'), 'utf8');

  it('go to stdout and logs/broker.log as JSON lines from every thread, with tracking_id, client_id, domain and actor', async () => {
    const lines = logFile().trim().split('\n');
    const entries = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    const actors = new Set(entries.map((e) => e.actor));
    for (const actor of ['supervisor', 'ingest', 'encryption', 'delivery', 'ca']) expect(actors).toContain(actor);
    const queued = entries.find((e) => e.msg === 'message queued');
    expect(queued).toMatchObject({
      actor: 'supervisor',
      tracking_id: expect.any(String),
      client_id: expect.any(Number),
      client: expect.stringMatching(/^demo\./),
      domain: expect.any(String),
    });
    expect(entries.find((e) => e.msg === 'messages dead-lettered')).toMatchObject({
      actor: 'delivery',
      domain: 'hooks',
    });
    expect(entries.find((e) => e.msg === 'actor exited; restarting')).toMatchObject({
      actor: 'supervisor',
      worker: expect.any(String),
    });
    // Every thread's lines name their instance.
    expect(new Set(entries.map((e) => e.instance_id))).toEqual(new Set([workspace.values.instance_id]));
    // stdout carries the same lines. The file and the pipe to this process are written
    // separately, so the file's last line may reach stdout a moment later.
    const last = lines.at(-1)!;
    await waitUntil(async () => broker.output.includes(last), 5_000, "the log file's last line on stdout");
  });

  it('carry each key once per line (JSON.parse keeps the last of two, other parsers the first)', () => {
    const lines = [...logFile().trim().split('\n'), ...broker.output.split('\n').filter((l) => l.startsWith('{'))];
    expect(lines.length).toBeGreaterThan(100);
    const repeated = lines.flatMap((line) => {
      const keys = duplicateTopLevelKeys(line);
      return keys.length > 0 ? [`${keys.join(', ')} in ${line.slice(0, 300)}`] : [];
    });
    expect(repeated).toEqual([]);
  });

  it('never hold a message body, a phone number, a key or a secret', () => {
    const secretsDir = join(workspace.dir, 'data/secrets');
    const keyMaterial = [
      ...Object.values(
        (JSON.parse(readFileSync(join(secretsDir, 'data-keys.json'), 'utf8')) as { keys: Record<string, string> }).keys,
      ),
      ...Object.values(
        (JSON.parse(readFileSync(join(secretsDir, 'pepper.json'), 'utf8')) as { peppers: Record<string, string> })
          .peppers,
      ),
      ...pemLines(readFileSync(join(workspace.dir, 'certs/ca.key'), 'utf8')),
      ...pemLines(readFileSync(join(workspace.dir, 'certs/server.key'), 'utf8')),
      SIGNING_SECRET,
    ];
    const logs = { stdout: broker.output, 'logs/broker.log': logFile() };
    expect(plaintexts.length).toBeGreaterThan(200);
    for (const [where, text] of Object.entries(logs)) {
      expect(text.length, where).toBeGreaterThan(1000);
      for (const secret of [...plaintexts, ...keyMaterial]) {
        if (text.includes(secret)) throw new Error(`${where} contains a plaintext or key: ${secret.slice(0, 12)}…`);
      }
    }
  });
});

/** A few lines from the middle of a PEM body: enough to spot a leaked key. */
function pemLines(pem: string): string[] {
  const body = pem.split('\n').filter((l) => l && !l.startsWith('-----'));
  return body.slice(1, 4);
}
