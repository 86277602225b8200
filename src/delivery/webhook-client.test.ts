/**
 * The webhook POST against a real local HTTPS downstream: what each answer becomes, that
 * a hanging downstream is cut off at the deadline, and that the request is signed.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCa } from '../pki/ca.js';
import { issueServerCertificate } from '../pki/issue.js';
import { WebhookClient, type WebhookPayload } from './webhook-client.js';

const payload: WebhookPayload = {
  payload_version: 2,
  message_id: '0b9f7a2e-1c2d-4e5f-8a9b-0c1d2e3f4a5b',
  client_id: 'gateway.alpha',
  domain: 'alpha',
  sender_number: '+14155550123',
  message_body: 'hello',
  metadata: null,
  queued_at: '2026-12-05T20:00:00.000Z',
  attempt: 2,
};

/**
 * A receiver's Standard Webhooks check written from the spec (standardwebhooks.com), not
 * from our signer: the secret as its libraries take it (`whsec_` + base64 key), the
 * space-separated `v1,<base64>` list, a 5-minute timestamp tolerance, constant-time compare.
 */
function verifyStandardWebhook(whsecSecret: string, headers: Record<string, unknown>, body: string): boolean {
  const id = String(headers['webhook-id']);
  const timestamp = String(headers['webhook-timestamp']);
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > 300) return false;
  const key = Buffer.from(whsecSecret.replace(/^whsec_/, ''), 'base64');
  const expected = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest();
  return String(headers['webhook-signature'])
    .split(' ')
    .some((entry) => {
      const [version, signature] = entry.split(',');
      const given = Buffer.from(signature ?? '', 'base64');
      return version === 'v1' && given.length === expected.length && timingSafeEqual(given, expected);
    });
}

let server: Server;
let base: string;
let client: WebhookClient;
const seen: Array<{ headers: Record<string, string | string[] | undefined>; body: string }> = [];
/** Answers held open (never sent), so the server can end them at teardown. */
const trickles: Array<{ end(): void }> = [];

beforeAll(async () => {
  const ca = createCa({ commonName: 'Webhook Test CA', days: 1 });
  const cert = issueServerCertificate(ca, { commonName: 'localhost', hostnames: ['127.0.0.1'], days: 1 });
  server = createServer({ key: cert.keyPem, cert: cert.certPem }, (req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      seen.push({ headers: req.headers, body });
      const path = req.url ?? '';
      if (path.startsWith('/ok')) res.writeHead(204).end();
      else if (path.startsWith('/fail')) res.writeHead(503).end('down');
      else if (path.startsWith('/gone')) res.writeHead(410).end();
      else if (path.startsWith('/later')) res.writeHead(429, { 'retry-after': '7' }).end();
      else if (path.startsWith('/processing')) {
        // An interim 102 first (a downstream working on it), then the final answer.
        res.writeProcessing();
        setTimeout(() => res.writeHead(200).end(), 100);
      } else if (path.startsWith('/hints')) {
        res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' });
        setTimeout(() => res.writeHead(503).end(), 100);
      } else if (path.startsWith('/moved')) res.writeHead(301, { location: '/elsewhere' }).end();
      else if (path.startsWith('/trickle')) {
        // Taken (200 at once), then a body of one byte every 100 ms that never ends.
        res.writeHead(200);
        res.flushHeaders();
        const drip = setInterval(() => res.write('x'), 100);
        res.on('close', () => clearInterval(drip));
      } else if (path.startsWith('/huge')) res.writeHead(200).end(Buffer.alloc(1024 * 1024));
      else if (path.startsWith('/hang')) trickles.push(res); // no answer at all
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  client = new WebhookClient({ ca: ca.certPem }, 4);
});

afterAll(async () => {
  for (const response of trickles) response.end();
  await client.close();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const post = (path: string, timeoutMs = 2000) =>
  client.post({ url: `${base}${path}`, secret: 'shh', timeoutMs }, payload);

describe('WebhookClient', () => {
  it('delivers on 2xx, with the message id as idempotency key and a verifiable signature', async () => {
    await expect(post('/ok?x=1')).resolves.toEqual({ ok: true, status: 204 });
    const { headers, body } = seen.at(-1)!;
    expect(JSON.parse(body)).toEqual(payload);
    expect(headers['idempotency-key']).toBe(payload.message_id);
    expect(headers['x-mb-attempt']).toBe('2');
    const [, t, v1] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(String(headers['x-mb-signature']))!;
    expect(v1).toBe(createHmac('sha256', 'shh').update(`${t}.${body}`).digest('hex'));
  });

  it('sends the Standard Webhooks headers, verifiable with whsec_ + base64 of a plain secret', async () => {
    await post('/ok');
    const { headers, body } = seen.at(-1)!;
    expect(headers['webhook-id']).toBe(payload.message_id);
    expect(headers['webhook-timestamp']).toMatch(/^\d{10}$/);
    // One timestamp for both schemes.
    expect(String(headers['x-mb-signature'])).toContain(`t=${String(headers['webhook-timestamp'])},`);
    expect(headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
    expect(verifyStandardWebhook(`whsec_${Buffer.from('shh').toString('base64')}`, headers, body)).toBe(true);
    expect(verifyStandardWebhook(`whsec_${Buffer.from('other').toString('base64')}`, headers, body)).toBe(false);
    expect(verifyStandardWebhook(`whsec_${Buffer.from('shh').toString('base64')}`, headers, `${body} `)).toBe(false);
  });

  it('takes a whsec_ secret as Standard Webhooks libraries do (the base64-decoded bytes)', async () => {
    const secret = `whsec_${randomBytes(32).toString('base64')}`;
    await client.post({ url: `${base}/ok`, secret, timeoutMs: 2000 }, payload);
    const { headers, body } = seen.at(-1)!;
    expect(verifyStandardWebhook(secret, headers, body)).toBe(true);
    // X-MB-Signature keeps keying with the secret as written.
    const [, t, v1] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(String(headers['x-mb-signature']))!;
    expect(v1).toBe(createHmac('sha256', secret).update(`${t}.${body}`).digest('hex'));
  });

  it('retries a 5xx, gives up on another 4xx, and honours Retry-After on a 429', async () => {
    await expect(post('/fail')).resolves.toMatchObject({ ok: false, status: 503, retryable: true });
    await expect(post('/gone')).resolves.toMatchObject({ ok: false, status: 410, retryable: false });
    await expect(post('/later')).resolves.toMatchObject({
      ok: false,
      status: 429,
      retryable: true,
      retryAfterMs: 7000,
    });
  });

  it('takes a 2xx on its status line: a slow, endless or huge body neither delays nor fails it', async () => {
    const started = Date.now();
    await expect(post('/trickle', 1000)).resolves.toEqual({ ok: true, status: 200 });
    expect(Date.now() - started).toBeLessThan(900);
    await expect(post('/huge')).resolves.toEqual({ ok: true, status: 200 });
  });

  it('waits past an interim 1xx answer (102 Processing, 103 Early Hints) for the final one', async () => {
    // A 1xx is not the answer: taken for one, a 102 failed the message for good while the
    // downstream went on to take it with a 200.
    await expect(post('/processing')).resolves.toEqual({ ok: true, status: 200 });
    await expect(post('/hints')).resolves.toMatchObject({ ok: false, status: 503, retryable: true });
  });

  it('does not follow a redirect: retried (the URL is out of date), saying why', async () => {
    await expect(post('/moved')).resolves.toMatchObject({
      ok: false,
      status: 301,
      retryable: true,
      error: expect.stringContaining('redirects are not followed'),
    });
  });

  it('cuts a hanging downstream off at the deadline, as a retryable failure', async () => {
    const started = Date.now();
    const outcome = await post('/hang', 300);
    expect(outcome).toMatchObject({ ok: false, retryable: true });
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('keeps the deadline while the connection is still being set up (a downstream that never finishes the handshake)', async () => {
    const sockets: Socket[] = [];
    const silent = createTcpServer((socket) => void sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const started = Date.now();
    const outcome = await client.post(
      { url: `https://127.0.0.1:${(silent.address() as AddressInfo).port}/x`, secret: 's', timeoutMs: 300 },
      payload,
    );
    expect(outcome).toMatchObject({ ok: false, retryable: true, error: expect.stringMatching(/UND_ERR_TIMEOUT/) });
    expect(Date.now() - started).toBeLessThan(2000);
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
  });

  it("trusts only the configured CA (Node's default roots otherwise)", async () => {
    const stranger = new WebhookClient({}, 1);
    const refused = await stranger.post({ url: `${base}/ok`, secret: 's', timeoutMs: 2000 }, payload);
    await stranger.close();
    expect(refused).toMatchObject({
      ok: false,
      retryable: true,
      error: expect.stringMatching(/certificate|SELF_SIGNED|UNABLE_TO_VERIFY/i),
    });
  });

  it('reports a refused connection as a retryable failure, never a rejection', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const outcome = await client.post({ url: `https://127.0.0.1:${port}/x`, secret: 's', timeoutMs: 1000 }, payload);
    expect(outcome).toMatchObject({ ok: false, retryable: true });
    expect((outcome as { error: string }).error).toMatch(/ECONNREFUSED/);
  });
});
