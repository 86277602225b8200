/**
 * Webhook target against a local HTTPS downstream: retries at the configured interval,
 * attempt_count kept, the last failure dead-lettered, signature and client certificate
 * presented (X-MB-Signature and Standard Webhooks, each checked by an independent
 * receiver-side implementation), message id as idempotency key, the payload as documented.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { Redis } from 'ioredis';
import { createConnection } from 'mysql2/promise';
import type { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { webhookPayloadSchema } from '../../src/delivery/webhook-payload.schemas.js';
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

const SECRET = 'test-signing-secret';
const INTERVAL_MS = 1000;

interface Received {
  at: number;
  body: { message_id: string; message_body: string; sender_number: string; attempt: number };
  headers: Record<string, string | string[] | undefined>;
  clientCertIssuer: string | undefined;
  rawBody: string;
}

let downstream: Server;
let downstreamUrl: string;
const received: Received[] = [];
let caDir: string;
let workspace: Workspace;
let broker: BrokerProcess;
let agent: Agent;

beforeAll(async () => {
  const ca = createCa({ commonName: 'Downstream Test CA', days: 2 });
  const server = issueServerCertificate(ca, {
    commonName: 'localhost',
    hostnames: ['localhost', '127.0.0.1'],
    days: 2,
  });
  caDir = mkdtempSync(join(tmpdir(), 'mb-downstream-'));
  writeFileSync(join(caDir, 'ca.pem'), ca.certPem);
  downstream = createServer(
    { key: server.keyPem, cert: server.certPem, requestCert: true, rejectUnauthorized: false },
    (req, res) => {
      let raw = '';
      req.on('data', (chunk: Buffer) => (raw += chunk.toString()));
      req.on('end', () => {
        const body = JSON.parse(raw) as Received['body'];
        const peer = (req.socket as TLSSocket).getPeerCertificate();
        received.push({
          at: Date.now(),
          body,
          headers: req.headers,
          clientCertIssuer: peer?.issuer?.CN as string | undefined,
          rawBody: raw,
        });
        const attempts = received.filter((r) => r.body.message_id === body.message_id).length;
        const [kind, n] = body.message_body.split(':');
        if (kind === 'fail' && attempts <= Number(n)) res.writeHead(503).end('try later');
        else if (kind === 'always-fail') res.writeHead(500).end('broken');
        else if (kind === 'reject') res.writeHead(400).end('never');
        else res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      });
    },
  );
  await new Promise<void>((resolve) => downstream.listen(0, '127.0.0.1', resolve));
  const address = downstream.address();
  downstreamUrl = `https://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/inbound`;

  workspace = await createWorkspace({
    delivery: { retry_interval_ms: INTERVAL_MS, max_attempts: 3, webhook_timeout_ms: 3000 },
    domains: [
      {
        name: 'default',
        target: { type: 'webhook', url: downstreamUrl, secret: SECRET, ca_file: join(caDir, 'ca.pem') },
      },
    ],
  });
  broker = new BrokerProcess(workspace);
  await broker.start();
  agent = mtlsAgent(demoBundle(workspace));
});

afterAll(async () => {
  await agent?.close();
  await broker?.kill('SIGKILL');
  await workspace?.cleanup();
  await new Promise((resolve) => downstream?.close(resolve));
  rmSync(caDir, { recursive: true, force: true });
});

async function row(id: string): Promise<{ status: string; attempt_count: number; last_error: string | null }> {
  const connection = await createConnection({ uri: workspace.database.url });
  try {
    const [rows] = (await connection.query(
      'SELECT status, attempt_count, last_error FROM messages WHERE message_id = ?',
      [id],
    )) as unknown as [Array<{ status: string; attempt_count: number; last_error: string | null }>];
    return rows[0]!;
  } finally {
    await connection.end();
  }
}

async function submit(text: string): Promise<string> {
  const response = await postJson(agent, broker.url, { sender_number: '+14155550199', message_body: text });
  expect(response.status).toBe(202);
  return String(response.body.message_id);
}

describe('webhook delivery', () => {
  it('delivers at once when the downstream says 2xx, signed, with our client certificate', async () => {
    const id = await submit('ok');
    await waitUntil(async () => (await row(id))?.status === 'delivered' || undefined, 10_000, 'delivery');
    const hit = received.find((r) => r.body.message_id === id)!;
    expect(hit.body).toMatchObject({ message_body: 'ok', sender_number: '+14155550199', attempt: 1 });
    // The client as every other surface names it: its CN, never the database id.
    expect(hit.body).toMatchObject({ payload_version: 2, client_id: 'demo.default', domain: 'default' });
    expect(Object.keys(hit.body).sort()).toEqual([...webhookPayloadSchema.required].sort());
    for (const [name, property] of Object.entries(webhookPayloadSchema.properties)) {
      const value = (hit.body as unknown as Record<string, unknown>)[name];
      if ('type' in property) expect(typeof value, name).toBe(property.type === 'integer' ? 'number' : property.type);
    }
    // Standard Webhooks, verified as a receiver would (spec: standardwebhooks.com), with the
    // secret given the way its libraries take it: whsec_ + base64 of the configured secret.
    const key = Buffer.from(`whsec_${Buffer.from(SECRET).toString('base64')}`.slice('whsec_'.length), 'base64');
    expect(hit.headers['webhook-id']).toBe(id);
    const timestamp = Number(hit.headers['webhook-timestamp']);
    expect(Math.abs(Date.now() / 1000 - timestamp)).toBeLessThan(300);
    const expected = createHmac('sha256', key).update(`${id}.${timestamp}.${hit.rawBody}`).digest();
    const signatures = String(hit.headers['webhook-signature']).split(' ');
    expect(
      signatures.some((s) => {
        const [version, value] = s.split(',');
        const given = Buffer.from(value ?? '', 'base64');
        return version === 'v1' && given.length === expected.length && timingSafeEqual(given, expected);
      }),
    ).toBe(true);
    expect(hit.headers['idempotency-key']).toBe(id);
    expect(hit.clientCertIssuer).toBe('Message Broker CA');
    const [t, v1] = String(hit.headers['x-mb-signature'])
      .split(',')
      .map((p) => p.split('=')[1]);
    expect(v1).toBe(createHmac('sha256', SECRET).update(`${t}.${hit.rawBody}`).digest('hex'));
    expect((await row(id)).attempt_count).toBe(1);
  });

  it('retries at the configured interval until the downstream takes it', async () => {
    const id = await submit('fail:2');
    await waitUntil(
      async () => (await row(id))?.status === 'delivered' || undefined,
      15_000,
      'delivery after two failures',
    );
    const attempts = received.filter((r) => r.body.message_id === id);
    expect(attempts.map((a) => a.body.attempt)).toEqual([1, 2, 3]);
    for (let i = 1; i < attempts.length; i++) {
      const gap = attempts[i]!.at - attempts[i - 1]!.at;
      expect(gap).toBeGreaterThanOrEqual(INTERVAL_MS - 50);
      expect(gap).toBeLessThan(INTERVAL_MS + 1500);
    }
    expect(await row(id)).toMatchObject({ status: 'delivered', attempt_count: 3 });
  });

  it('fails and dead-letters after the last attempt', async () => {
    const id = await submit('always-fail');
    await waitUntil(async () => (await row(id))?.status === 'failed' || undefined, 15_000, 'the message to fail');
    expect(await row(id)).toMatchObject({ status: 'failed', attempt_count: 3, last_error: 'HTTP 500' });
    expect(received.filter((r) => r.body.message_id === id)).toHaveLength(3);
    const redis = new Redis(workspace.redisUrl);
    try {
      const dead = await redis.xrange(`${workspace.prefix}default:dead`, '-', '+');
      const entry = dead.find(([, fields]) => fields.includes(id));
      expect(entry).toBeDefined();
      expect(entry![1]).toEqual(expect.arrayContaining(['a', '3', 'e', 'HTTP 500']));
      // Nothing of it is left waiting.
      expect(await redis.zscore(`${workspace.prefix}default:schedule`, id)).toBeNull();
      expect(await redis.zscore(`${workspace.prefix}default:inflight`, id)).toBeNull();
    } finally {
      redis.disconnect();
    }
  });

  it('does not retry what the downstream refuses for good (4xx)', async () => {
    const id = await submit('reject');
    await waitUntil(async () => (await row(id))?.status === 'failed' || undefined, 10_000, 'the message to fail');
    expect(await row(id)).toMatchObject({ attempt_count: 1, last_error: 'HTTP 400' });
  });
});
