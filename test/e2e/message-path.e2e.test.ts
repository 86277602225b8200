/**
 * The real supervisor as a child process, over real mTLS: validation, refusals, the 202
 * contract, and what lands in MySQL (encrypted, hashed, decryptable by the encryption actor).
 */
import { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import type { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type DatabaseHandle } from '../../src/db/database.js';
import { MessagesRepository } from '../../src/db/messages.repository.js';
import { loadConfig } from '../../src/config/config.js';
import { RpcPeer, type PortLike } from '../../src/rpc/rpc-peer.js';
import type { EncryptionProtocol } from '../../src/actors/encryption/encryption.protocol.js';
import { createCa } from '../../src/pki/ca.js';
import { issueClientCertificate } from '../../src/pki/issue.js';
import {
  BrokerProcess,
  ROOT,
  createWorkspace,
  demoBundle,
  getJson,
  mtlsAgent,
  postJson,
  waitUntil,
  type Workspace,
} from '../support/broker-harness.js';

let workspace: Workspace;
let broker: BrokerProcess;
let agent: Agent;
let database: DatabaseHandle;
let messages: MessagesRepository;

beforeAll(async () => {
  workspace = await createWorkspace();
  broker = new BrokerProcess(workspace);
  await broker.start();
  agent = mtlsAgent(demoBundle(workspace));
  database = openDatabase({ url: workspace.database.url, poolSize: 2 });
  messages = new MessagesRepository(database.db);
});

afterAll(async () => {
  await agent?.close();
  await database?.close();
  await broker?.kill('SIGKILL');
  await workspace?.cleanup();
});

const valid = { sender_number: '+14155550123', message_body: 'Hello from the test suite' };

describe('POST /api/v1/messages', () => {
  it('prints a ready-to-paste curl on first start', () => {
    expect(broker.output).toMatch(/curl --cert .*client\.crt --key .*client\.key --cacert .*ca\.crt/);
    expect(broker.output).toContain('/api/v1/messages');
  });

  it('answers 202 with the message id, status, client, time and position', async () => {
    const response = await postJson(agent, broker.url, valid);
    expect(response.status).toBe(202);
    expect(response.body).toMatchObject({ status: 'queued', client_id: 'demo.default' });
    // A version 7 UUID whose time is the acceptance's: ids sort by it (src/util/uuid.ts).
    const id = String(response.body.message_id);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const queuedAt = Date.parse(String(response.body.queued_at));
    expect(Number.isNaN(queuedAt)).toBe(false);
    expect(Math.abs(Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16) - queuedAt)).toBeLessThan(1000);
    expect(response.body.position).toBeGreaterThanOrEqual(1);
    expect(response.headers['x-request-id']).toBeTruthy();
  });

  it('stores the message encrypted, the number hashed and masked, and marks it delivered', async () => {
    const body = 'Secret body that must never be stored in the clear ✓';
    const response = await postJson(agent, broker.url, {
      sender_number: '+447700900123',
      message_body: body,
      metadata: { ref: 'A-1', n: 3 },
    });
    expect(response.status).toBe(202);
    const id = String(response.body.message_id);
    const row = await waitUntil(
      async () => {
        const found = await messages.findOne(id);
        return found?.status === 'delivered' ? found : undefined;
      },
      15_000,
      'the message to be stored',
    );
    expect(row.domain).toBe('default');
    expect(row.sender_masked).toBe('+447*****0123');
    expect(row.sender_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(row.metadata).toEqual({ ref: 'A-1', n: 3 });
    expect(row.body_enc.includes(Buffer.from(body))).toBe(false);
    expect(row.body_enc.includes(Buffer.from('Secret'))).toBe(false);
    expect(row.body_enc.includes(Buffer.from('447700900123'))).toBe(false);
    // Envelope v2: number and body in one envelope, sender_enc empty.
    expect(row.body_enc[0]).toBe(2);
    expect(row.sender_enc.length).toBe(0);

    // Round trip through a real encryption actor holding the same keys.
    const config = loadConfig({ values: { secrets: { dir: join(workspace.dir, 'data/secrets') } }, env: {} });
    const worker = new Worker(join(ROOT, 'dist/actors/encryption/encryption.actor.js'), {
      workerData: { name: 'encryption', config, peers: {}, faultInjection: false },
    });
    try {
      await new Promise<void>((resolve) =>
        worker.on('message', (m: { kind?: string }) => m?.kind === 'ready' && resolve()),
      );
      const rpc = new RpcPeer<EncryptionProtocol>({ peerName: 'encryption' }, worker as unknown as PortLike);
      const { items } = await rpc.call('encryption.open', {
        items: [{ message_id: id, body_enc: row.body_enc, sender_enc: row.sender_enc }],
      });
      expect(items[0]).toMatchObject({ ok: true, message_body: body, sender_number: '+447700900123' });
      const { hashes } = await rpc.call('encryption.hash', { numbers: ['+447700900123'] });
      expect(hashes[0]).toContain(row.sender_hash);
    } finally {
      await worker.terminate();
    }
  });

  it.each([
    ['missing sender_number', { message_body: 'x' }, 'sender_number'],
    ['missing message_body', { sender_number: '+14155550123' }, 'message_body'],
    ['number without +', { ...valid, sender_number: '14155550123' }, 'sender_number'],
    ['number starting with +0', { ...valid, sender_number: '+04155550123' }, 'sender_number'],
    ['number too long (16 digits)', { ...valid, sender_number: '+1234567890123456' }, 'sender_number'],
    ['number too short (1 digit)', { ...valid, sender_number: '+1' }, 'sender_number'],
    ['number with letters', { ...valid, sender_number: '+1415555O123' }, 'sender_number'],
    ['number as a number', { ...valid, sender_number: 14155550123 }, 'sender_number'],
    ['empty body', { ...valid, message_body: '' }, 'message_body'],
    ['whitespace-only body', { ...valid, message_body: ' \t\n ' }, 'message_body'],
    ['zero-width-space body', { ...valid, message_body: '\u200b\u200b' }, 'message_body'],
    [
      'invisible-only body (BOM, joiners, NEL, tag)',
      { ...valid, message_body: '\ufeff\u200d\u0085\u{e0041}' },
      'message_body',
    ],
    ['1001-character body', { ...valid, message_body: 'x'.repeat(1001) }, 'message_body'],
    ['body as an array', { ...valid, message_body: ['hi'] }, 'message_body'],
    ['unknown field', { ...valid, priority: 'high' }, 'priority'],
    ['metadata not an object', { ...valid, metadata: 'x' }, 'metadata'],
    ['nested metadata', { ...valid, metadata: { a: { b: 1 } } }, 'metadata'],
    [
      'too many metadata keys',
      { ...valid, metadata: Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`k${i}`, i])) },
      'metadata',
    ],
  ])('refuses %s with 422 INVALID_PAYLOAD naming the field', async (_name, body, field) => {
    const response = await postJson(agent, broker.url, body);
    expect(response.status).toBe(422);
    expect(response.body).toMatchObject({ error_code: 'INVALID_PAYLOAD' });
    expect(response.body.tracking_id).toBeTruthy();
    expect(response.body.timestamp).toBeTruthy();
    expect(JSON.stringify(response.body.details)).toContain(field);
  });

  it.each([
    ['2-digit number', '+12'],
    ['15-digit number', '+123456789012345'],
  ])('accepts a %s', async (_name, number) => {
    expect((await postJson(agent, broker.url, { ...valid, sender_number: number })).status).toBe(202);
  });

  it('accepts exactly 1000 characters, counted as characters not bytes', async () => {
    expect((await postJson(agent, broker.url, { ...valid, message_body: '€'.repeat(1000) })).status).toBe(202);
    expect((await postJson(agent, broker.url, { ...valid, message_body: '😀'.repeat(1000) })).status).toBe(202);
  });

  it('answers malformed JSON with 400, a wrong content type with 415, an oversized body with 413', async () => {
    expect((await postJson(agent, broker.url, '{"sender_number":')).body).toMatchObject({
      error_code: 'MALFORMED_JSON',
    });
    const wrongType = await postJson(agent, broker.url, 'hello', { 'content-type': 'text/plain' });
    expect(wrongType.status).toBe(415);
    expect(wrongType.body.error_code).toBe('UNSUPPORTED_MEDIA_TYPE');
    const huge = await postJson(agent, broker.url, { ...valid, message_body: 'x'.repeat(40_000) });
    expect(huge.status).toBe(413);
    expect(huge.body.error_code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('answers an unknown route with the error schema', async () => {
    const response = await getJson(agent, `${broker.url}/api/v1/nope`);
    expect(response.status).toBe(404);
    expect(response.body).toMatchObject({ error_code: 'NOT_FOUND' });
  });
});

describe('client certificates', () => {
  const ca = () => readFileSync(join(workspace.dir, 'certs/ca.crt'), 'utf8');

  it('refuses a request without a certificate: 401 UNAUTHORIZED', async () => {
    const anonymous = mtlsAgent({ ca: ca() });
    try {
      const response = await postJson(anonymous, broker.url, valid);
      expect(response.status).toBe(401);
      expect(response.body.error_code).toBe('UNAUTHORIZED');
    } finally {
      await anonymous.close();
    }
  });

  it('refuses a certificate from another CA: 401 CERT_UNTRUSTED', async () => {
    const foreign = createCa({ commonName: 'Someone Else CA', days: 30 });
    const cert = issueClientCertificate(foreign, { commonName: 'demo.default' });
    const stranger = mtlsAgent({ ca: ca(), cert: cert.certPem, key: cert.keyPem });
    try {
      const response = await postJson(stranger, broker.url, valid);
      expect(response.status).toBe(401);
      expect(response.body.error_code).toBe('CERT_UNTRUSTED');
    } finally {
      await stranger.close();
    }
  });

  it('refuses a certificate of our CA that is not registered: 403 CERT_UNKNOWN', async () => {
    const ours = { certPem: ca(), keyPem: readFileSync(join(workspace.dir, 'certs/ca.key'), 'utf8') };
    const cert = issueClientCertificate(ours, { commonName: 'ghost.default' });
    const ghost = mtlsAgent({ ca: ca(), cert: cert.certPem, key: cert.keyPem });
    try {
      const response = await postJson(ghost, broker.url, valid);
      expect(response.status).toBe(403);
      expect(response.body.error_code).toBe('CERT_UNKNOWN');
    } finally {
      await ghost.close();
    }
  });
});

describe('health', () => {
  it('reports components, liveness and readiness', async () => {
    const health = await getJson(agent, `${broker.url}/api/v1/health`);
    expect(health.status).toBe(200);
    const components = health.body.components as Record<string, { status: string; appendonly?: string }>;
    expect(components.redis?.status).not.toBe('down');
    expect(components.redis?.appendonly).toBe('yes');
    expect(components.mysql?.status).toBe('up');
    for (const actor of ['ingest', 'encryption', 'delivery', 'ca'])
      expect(components[`actor_${actor}`]?.status).toBe('up');
    expect(components.server_certificate?.status).toBe('up');
    expect((await getJson(agent, `${broker.url}/healthz`)).status).toBe(200);
    expect((await getJson(agent, `${broker.url}/readyz`)).body).toMatchObject({ ready: true });
  });

  it('on SIGTERM answers the requests in flight, stores what it accepted, and exits 0', async () => {
    const inFlight = Array.from({ length: 100 }, (_, i) =>
      postJson(agent, broker.url, { ...valid, message_body: `shutdown ${i}` }).catch(() => undefined),
    );
    await new Promise((r) => setTimeout(r, 5));
    const exit = broker.kill('SIGTERM');
    const responses = await Promise.all(inFlight);
    expect(await exit).toBe(0);
    const accepted = responses.filter((r) => r?.status === 202).map((r) => String(r!.body.message_id));
    for (const r of responses) if (r) expect([202, 503]).toContain(r.status);
    expect(accepted.length).toBeGreaterThan(0);
    // Accepted before the stop ⇒ durable; a restart stores whatever was still in the stream.
    await broker.start();
    for (const id of accepted) {
      await waitUntil(
        async () => (await messages.findOne(id))?.status === 'delivered' || undefined,
        15_000,
        `message ${id} to be stored`,
      );
    }
    expect(await broker.kill('SIGTERM')).toBe(0);
  });
});
