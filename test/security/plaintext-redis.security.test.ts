/**
 * No plaintext in Redis, ever. The ingest actor seals before the append, so a message's
 * body and number are written to Redis only as AES-256-GCM envelopes: they appear in no
 * key while queued and in no file of Redis' data directory (AOF with `appendfsync always`,
 * which holds every write ever made, and an RDB saved while messages are queued) — and
 * the messages still reach MySQL and the webhook downstream in full.
 */
import { readdirSync, readFileSync, statSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomInt, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCa } from '../../src/pki/ca.js';
import { issueServerCertificate } from '../../src/pki/issue.js';
import {
  BrokerProcess,
  createWorkspace,
  demoBundle,
  mtlsAgent,
  postJson,
  waitUntil,
  type Workspace,
} from '../support/broker-harness.js';
import { TestRedisServer } from '../support/redis-server.js';
import { openStored, storedRows } from '../support/stored-messages.js';

const COUNT = 30;

let redisServer: TestRedisServer;
let workspace: Workspace;
let broker: BrokerProcess;
let agent: Agent;
let downstream: Server;
let caDir: string;
/** What the downstream received, by message id; it answers 503 until `open` is set. */
const received = new Map<string, { sender_number: string; message_body: string }>();
let open = false;
const sent: Array<{ message_id: string; sender_number: string; message_body: string }> = [];

beforeAll(async () => {
  redisServer = await TestRedisServer.create('always');
  const ca = createCa({ commonName: 'Downstream Test CA', days: 2 });
  const server = issueServerCertificate(ca, { commonName: 'localhost', hostnames: ['127.0.0.1'], days: 2 });
  caDir = mkdtempSync(join(tmpdir(), 'mb-downstream-'));
  writeFileSync(join(caDir, 'ca.pem'), ca.certPem);
  downstream = createServer({ key: server.keyPem, cert: server.certPem }, (req, res) => {
    let raw = '';
    req.on('data', (chunk: Buffer) => (raw += chunk.toString()));
    req.on('end', () => {
      if (!open) return void res.writeHead(503).end('not yet');
      const body = JSON.parse(raw) as { message_id: string; sender_number: string; message_body: string };
      received.set(body.message_id, { sender_number: body.sender_number, message_body: body.message_body });
      res.writeHead(200).end('{}');
    });
  });
  await new Promise<void>((resolve) => downstream.listen(0, '127.0.0.1', resolve));
  const address = downstream.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  workspace = await createWorkspace(
    {
      queue: { fsync: 'always' },
      delivery: { retry_interval_ms: 500, max_attempts: 100, breaker_open_ms: 500 },
      domains: [
        {
          name: 'default',
          target: {
            type: 'webhook',
            url: `https://127.0.0.1:${port}/inbound`,
            secret: 'plaintext-test-secret',
            ca_file: join(caDir, 'ca.pem'),
          },
        },
      ],
    },
    redisServer.url,
  );
  broker = new BrokerProcess(workspace);
  await broker.start();
  agent = mtlsAgent(demoBundle(workspace), 4);
}, 120_000);

afterAll(async () => {
  await agent?.close();
  await broker?.kill('SIGTERM');
  await workspace?.cleanup();
  await redisServer?.destroy();
  await new Promise((resolve) => downstream?.close(resolve));
  rmSync(caDir, { recursive: true, force: true });
});

/** Each plaintext as it could appear: the body, its canary alone, the number with and without its +. */
function plaintexts(): string[] {
  return sent.flatMap((m) => [
    m.message_body,
    m.message_body.split(' ')[1]!,
    m.sender_number,
    m.sender_number.slice(1),
  ]);
}

function expectNoPlaintext(bytes: Buffer, where: string): void {
  const text = [bytes.toString('utf8'), bytes.toString('latin1')];
  for (const secret of plaintexts())
    for (const t of text) expect(t.includes(secret), `${where} contains "${secret}"`).toBe(false);
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

describe('the body and the number never reach Redis in the clear', () => {
  it('are sealed in the stream while queued, in no file of Redis (AOF always, RDB), and still delivered', async () => {
    const redis = new Redis(redisServer.url);
    try {
      for (let i = 0; i < COUNT; i++) {
        const sender_number = `+1${randomInt(200, 999)}${String(randomInt(0, 10_000_000)).padStart(7, '0')}`;
        const message_body = `redis-canary ${randomUUID()}${i % 3 === 0 ? ' — grüße 🙂' : ''}`;
        const response = await postJson(agent, broker.url, { sender_number, message_body });
        expect(response.status).toBe(202);
        sent.push({ message_id: String(response.body.message_id), sender_number, message_body });
      }
      // Queued: the downstream refuses, so retries keep the messages scheduled meanwhile.
      // Every key under the prefix, read raw, while the messages are in flight:
      const keys = await redis.keys(`${workspace.prefix}*`);
      expect(keys.length).toBeGreaterThan(0);
      for (const key of keys) {
        const type = await redis.type(key);
        const dump = await redis.dumpBuffer(key);
        expectNoPlaintext(dump ?? Buffer.alloc(0), `key ${key} (${type})`);
      }
      // An RDB snapshot taken now, with the messages on their way.
      await redis.save();
      // A positive control: the search finds plaintext that is written to Redis.
      const control = `control-${randomUUID()}`;
      await redis.set(`${workspace.prefix}control`, control);

      open = true;
      await waitUntil(async () => received.size >= COUNT || undefined, 60_000, `${COUNT} webhook deliveries`);
      for (const message of sent)
        expect(received.get(message.message_id)).toEqual({
          sender_number: message.sender_number,
          message_body: message.message_body,
        });
      const opened = await openStored(workspace, await storedRows(workspace));
      for (const message of sent) expect(opened).toContainEqual(message);

      const files = filesUnder(redisServer.dir);
      expect(files.some((f) => f.includes('appendonly'))).toBe(true);
      expect(files.some((f) => f.endsWith('.rdb'))).toBe(true);
      const all = Buffer.concat(files.map((f) => readFileSync(f)));
      expect(all.toString('latin1').includes(control), 'the control value is in the AOF').toBe(true);
      for (const file of files) expectNoPlaintext(readFileSync(file), file);
    } finally {
      redis.disconnect();
    }
  });
});
