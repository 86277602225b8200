/**
 * A reload applies everything it reports as applied (`changed`), against the real
 * supervisor: one test per live section of src/config/config-reload.ts.
 *
 *   log        a new level reaches the main thread and every actor (debug lines appear,
 *              and stop again); a new log.file receives the lines of every thread
 *   retention  the scheduler purges by the new days at its next tick
 *   delivery   the delivery actor runs with the new settings (a downstream's slots)
 *   domains    the front refuses a domain switched off, the delivery actor pauses one
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { createConnection } from 'mysql2/promise';
import { type Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BrokerProcess,
  createWorkspace,
  demoBundle,
  mtlsAgent,
  postJson,
  waitUntil,
  type Workspace,
} from '../support/broker-harness.js';

const ACTORS = ['ingest', 'encryption', 'delivery', 'ca'] as const;

let workspace: Workspace;
let broker: BrokerProcess;
let client: Agent;
let anonymous: Agent;

beforeAll(async () => {
  workspace = await createWorkspace({
    log: { level: 'info', file: 'logs/first.log' },
    // Ticks every second; nothing is old enough to purge until a reload says so.
    retention: { days: 0, interval_ms: 1000 },
    domains: [
      { name: 'default' },
      { name: 'hooks', target: { type: 'webhook', url: 'https://127.0.0.1:9/hook', secret: 'live-reload' } },
    ],
  });
  broker = new BrokerProcess(workspace);
  await broker.start();
  client = mtlsAgent(demoBundle(workspace));
  anonymous = mtlsAgent({ ca: demoBundle(workspace).ca });
});

afterAll(async () => {
  await broker?.kill('SIGTERM');
  await client?.close();
  await anonymous?.close();
  await workspace?.cleanup();
});

interface LogLine {
  level: number;
  changed?: string[];
  actor?: string;
  instance_id?: string;
  msg?: string;
}

/**
 * Which thread wrote a line: the main thread's logger carries the instance id (its lines
 * about an actor also carry `actor`), an actor's own logger only its name.
 */
// Every line names the thread that wrote it (the supervisor's say 'supervisor').
const threadOf = (line: LogLine) => line.actor;

/** Broker stdout lines (JSON) written since `from` (an offset into the output). */
function linesSince(from: number): LogLine[] {
  return broker.output
    .slice(from)
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LogLine);
}

/** Rewrites config.yaml, sends SIGHUP and waits for the reload to finish; returns the output offset before it. */
async function reload(values: Record<string, unknown>): Promise<number> {
  const from = broker.output.length;
  workspace.reconfigure(values);
  broker.child!.kill('SIGHUP');
  await waitUntil(
    async () => linesSince(from).some((l) => l.msg === 'config reloaded') || undefined,
    30_000,
    'the reload to finish',
  );
  return from;
}

async function health(): Promise<Record<string, { slots?: number; operational?: boolean }>> {
  const response = await request(`${broker.url}/api/v1/health`, { dispatcher: anonymous });
  return ((await response.body.json()) as { components: Record<string, { slots?: number; operational?: boolean }> })
    .components;
}

const submit = () => postJson(client, broker.url, { sender_number: '+14155550100', message_body: 'live reload' });

describe('a reload', () => {
  it('that changes nothing says so in the log', async () => {
    const from = await reload({});
    expect(linesSince(from).find((l) => l.msg === 'config reloaded')).toMatchObject({ changed: [] });
  });
});

describe('a reload of log', () => {
  it('gives the main thread and every actor the new level, and takes it back', async () => {
    const before = linesSince(0);
    expect(before.filter((l) => l.level === 20)).toEqual([]);

    const from = await reload({ log: { level: 'debug', file: 'logs/first.log' } });
    const threads = ['supervisor', ...ACTORS];
    await waitUntil(
      async () => {
        const debug = new Set(
          linesSince(from)
            .filter((l) => l.level === 20)
            .map(threadOf),
        );
        return threads.every((t) => debug.has(t)) || undefined;
      },
      20_000,
      'a debug line from the main thread and each actor',
    );

    // Back to info: delivery and ca restart (their start says "actor ready" at debug) and
    // ingest and encryption take it live; none of them writes a debug line any more.
    const back = await reload({ log: { level: 'info', file: 'logs/first.log' } });
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(linesSince(back).filter((l) => l.level === 20)).toEqual([]);
  });

  it('writes the lines of every thread to a new log.file from the reload on', async () => {
    const first = join(workspace.dir, 'logs/first.log');
    const second = join(workspace.dir, 'logs/second.log');
    expect(existsSync(second)).toBe(false);
    const sizeBefore = statSync(first).size;
    // At debug every thread writes a line as it takes the reload (see the test above).
    await reload({ log: { level: 'debug', file: 'logs/second.log' } });
    const threads = ['supervisor', ...ACTORS];
    await waitUntil(
      async () => {
        const lines = readFileSync(second, 'utf8')
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as LogLine);
        const writers = new Set(lines.map(threadOf));
        return (lines.some((l) => l.msg === 'config reloaded') && threads.every((t) => writers.has(t))) || undefined;
      },
      20_000,
      'the main thread and every actor to write to logs/second.log',
    );
    // The old file is left as it was: the switch came before the reload wrote anything.
    expect(statSync(first).size).toBe(sizeBefore);
    await reload({ log: { level: 'info', file: 'logs/second.log' } });
    expect(statSync(first).size).toBe(sizeBefore);
  });
});

describe('a reload of retention', () => {
  it('has the scheduler purge by the new days at its next tick', async () => {
    const sent = await submit();
    expect(sent.status).toBe(202);
    const id = String(sent.body.message_id);
    const connection = await createConnection({ uri: workspace.database.url });
    try {
      const count = async () => {
        const [rows] = await connection.query('SELECT COUNT(*) AS n FROM messages WHERE message_id = ?', [id]);
        return Number((rows as Array<{ n: number }>)[0]!.n);
      };
      await waitUntil(async () => (await count()) === 1 || undefined, 15_000, 'the message to be stored');
      await connection.query('UPDATE messages SET created_at = ? WHERE message_id = ?', [
        new Date(Date.now() - 3 * 86_400_000),
        id,
      ]);
      // retention.days 0 keeps it forever, however many ticks go by.
      await new Promise((resolve) => setTimeout(resolve, 2500));
      expect(await count()).toBe(1);

      await reload({ retention: { days: 1, interval_ms: 1000 } });
      await waitUntil(async () => (await count()) === 0 || undefined, 15_000, 'the purge under the new retention');
      const [audit] = await connection.query("SELECT details FROM audit_log WHERE action = 'retention.purge'");
      expect(JSON.stringify(audit)).toContain('"deleted":1');
    } finally {
      await connection.end();
    }
  });
});

describe('a reload of delivery', () => {
  it('runs the delivery actor with the new settings', async () => {
    expect((await health())['downstream_hooks']?.slots).toBe(64);
    const from = await reload({ delivery: { retry_interval_ms: 29_000, concurrency: 40 } });
    // The loader resolves delivery defaults into each inheriting domain, so both change.
    expect(linesSince(from).find((l) => l.msg === 'config reloaded')).toMatchObject({
      changed: ['delivery', 'domains'],
      actors: { delivery: 'restarted' },
    });
    await waitUntil(
      async () => (await health())['downstream_hooks']?.slots === 40 || undefined,
      15_000,
      'the downstream to have 40 slots',
    );
  });
});

describe('a reload of domains', () => {
  it('switches a domain off at the front and pauses a downstream in the delivery actor', async () => {
    expect((await submit()).status).toBe(202);
    expect((await health())['downstream_hooks']?.operational).toBe(true);
    const domains = [
      { name: 'default', active: false },
      {
        name: 'hooks',
        operational: false,
        target: { type: 'webhook', url: 'https://127.0.0.1:9/hook', secret: 'live-reload' },
      },
    ];
    await reload({ domains });
    const refused = await submit();
    expect(refused.status).toBe(409);
    expect(refused.body.error_code).toBe('DOMAIN_DISABLED');
    await waitUntil(
      async () => (await health())['downstream_hooks']?.operational === false || undefined,
      15_000,
      'the hooks downstream to be paused',
    );

    await reload({ domains: domains.map((d) => ({ ...d, active: true, operational: true })) });
    expect((await submit()).status).toBe(202);
  });
});

describe('a reload that removes a domain', () => {
  it('is refused while the domain still holds accepted messages, and applied once they are gone', async () => {
    const hooks = {
      name: 'hooks',
      target: { type: 'webhook', url: 'https://127.0.0.1:9/hook', secret: 'live-reload' },
    };
    // A message of hooks waiting for its next attempt (its downstream never answers).
    const schedule = `${workspace.prefix}hooks:schedule`;
    const redis = new Redis(workspace.redisUrl);
    try {
      await redis.zadd(schedule, Date.now() + 3_600_000, 'waiting-message');
      const from = broker.output.length;
      workspace.reconfigure({ domains: [{ name: 'default' }] });
      broker.child!.kill('SIGHUP');
      await waitUntil(
        async () => linesSince(from).find((l) => l.msg?.startsWith('config reload refused')) ?? undefined,
        15_000,
        'the reload to be refused',
      );
      const refusal = linesSince(from).find((l) => l.msg?.startsWith('config reload refused')) as LogLine & {
        err?: string;
      };
      expect(refusal.err).toContain('hooks: 1 default deliveries');
      expect(linesSince(from).some((l) => l.msg === 'config reloaded')).toBe(false);
      // Still configured: its health entry is there.
      expect((await health())['downstream_hooks']).toBeDefined();

      await redis.del(schedule);
      await reload({ domains: [{ name: 'default' }] });
      expect((await health())['downstream_hooks']).toBeUndefined();
    } finally {
      await redis.quit();
      workspace.reconfigure({ domains: [{ name: 'default' }, hooks] });
    }
  });
});
