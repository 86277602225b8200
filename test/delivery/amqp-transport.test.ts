/**
 * The amqp transport against a real RabbitMQ node of the test's own (never the system's):
 * round trip, confirms, each failure (returned unroutable, nack, closed channel, no
 * connection, no confirm in time), TLS with a client certificate, and RabbitMQ killed
 * under load with nothing confirmed lost.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'amqplib';
import type { Logger } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCa } from '../../src/pki/ca.js';
import { issueClientCertificate, issueServerCertificate } from '../../src/pki/issue.js';
import {
  AmqpTransport,
  connectFailureOf,
  routingKeyOf,
  withHeartbeat,
  type AmqpTarget,
} from '../../src/delivery/amqp-transport.js';
import { WEBHOOK_PAYLOAD_VERSION, type WebhookPayload } from '../../src/delivery/webhook-client.js';
import { declareTopology, drainQueue as drain } from '../support/amqp-queue.js';
import { TestRabbitServer } from '../support/rabbitmq-server.js';

function payloadOf(domain = 'acme', attempt = 1): WebhookPayload {
  return {
    payload_version: WEBHOOK_PAYLOAD_VERSION,
    message_id: randomUUID(),
    client_id: `gateway-1.${domain}`,
    domain,
    sender_number: '+14155550123',
    message_body: 'Gate 4 open',
    metadata: { site: 'north' },
    queued_at: new Date().toISOString(),
    attempt,
  };
}

async function connectedTransport(target: AmqpTarget, pool = 8): Promise<AmqpTransport> {
  const transport = new AmqpTransport(target, pool);
  await transport.start();
  const deadline = Date.now() + 20_000;
  while (!transport.isConnected) {
    if (Date.now() > deadline) throw new Error('transport did not connect');
    await new Promise((r) => setTimeout(r, 50));
  }
  return transport;
}

describe('routingKeyOf', () => {
  it('fills {domain}, {route} and {match}, a missing value empty', () => {
    expect(routingKeyOf('sms.{domain}.{route}.{match}', 'acme', { route: 'eu', match: '+33' })).toBe('sms.acme.eu.+33');
    expect(routingKeyOf('{domain}', 'acme')).toBe('acme');
    expect(routingKeyOf('sms.{route}', 'acme')).toBe('sms.');
  });
});

describe('withHeartbeat', () => {
  it('asks for 15 s heartbeats unless the URL sets its own', () => {
    expect(withHeartbeat('amqps://u:p@h:5671/sms')).toBe('amqps://u:p@h:5671/sms?heartbeat=15');
    expect(withHeartbeat('amqps://h/?frameMax=8192')).toBe('amqps://h/?frameMax=8192&heartbeat=15');
    expect(withHeartbeat('amqps://h/?heartbeat=5')).toBe('amqps://h/?heartbeat=5');
  });
});

describe('connectFailureOf', () => {
  it("names the vhost RabbitMQ refused at connection.open (amqplib drops RabbitMQ's reason)", () => {
    const refused = new Error('Expected ConnectionOpenOk; got <ConnectionClose channel:0>');
    expect(connectFailureOf(refused, 'amqps://mb:pw@rabbit:5671/sms%2Fout')).toBe(
      'RabbitMQ refused vhost "sms/out" (it does not exist, or the user has no permission on it)',
    );
    expect(connectFailureOf(refused, 'amqps://mb:pw@rabbit:5671')).toMatch(/vhost "\/"/);
    expect(connectFailureOf(new Error('connect ECONNREFUSED 127.0.0.1:5671'), 'amqps://h')).toBe(
      'connect ECONNREFUSED 127.0.0.1:5671',
    );
  });
});

describe('AMQP transport against a real RabbitMQ', () => {
  let rabbit: TestRabbitServer;
  let transport: AmqpTransport;
  const exchange = 'mb.test';
  const target = (): AmqpTarget => ({
    url: rabbit.url,
    exchange,
    routingKey: 'sms.{domain}',
    timeoutMs: 5000,
    tls: {},
  });

  beforeAll(async () => {
    rabbit = await TestRabbitServer.create();
    await declareTopology(rabbit.url, { exchange, queue: 'acme-in', routingKey: 'sms.acme' });
    transport = await connectedTransport(target());
  }, 120_000);

  afterAll(async () => {
    await transport?.close();
    await rabbit?.destroy();
  });

  it('publishes persistent JSON with the message id and headers, ok on the confirm', async () => {
    const payload = payloadOf('acme', 2);
    await expect(transport.deliver(payload)).resolves.toEqual({ ok: true, status: 200 });
    const [message, ...rest] = await drain(rabbit.url, 'acme-in');
    expect(rest).toEqual([]);
    expect(JSON.parse(message!.content.toString())).toEqual(payload);
    expect(message!.fields).toMatchObject({ exchange, routingKey: 'sms.acme' });
    expect(message!.properties).toMatchObject({
      messageId: payload.message_id,
      contentType: 'application/json',
      deliveryMode: 2,
      appId: 'message-broker',
      headers: {
        'x-mb-attempt': 2,
        'x-mb-payload-version': WEBHOOK_PAYLOAD_VERSION,
        'x-mb-client-id': 'gateway-1.acme',
        'x-mb-domain': 'acme',
      },
    });
  });

  it('answers many attempts at once over its pool of confirm channels', async () => {
    const payloads = Array.from({ length: 200 }, () => payloadOf());
    const outcomes = await Promise.all(payloads.map((p) => transport.deliver(p)));
    expect(outcomes.every((o) => o.ok)).toBe(true);
    const ids = (await drain(rabbit.url, 'acme-in')).map((m) => m.properties.messageId);
    expect(new Set(ids)).toEqual(new Set(payloads.map((p) => p.message_id)));
  });

  it('fails a message no queue is bound for (mandatory: returned), retryably', async () => {
    const outcome = await transport.deliver(payloadOf('nobody'));
    expect(outcome).toMatchObject({ ok: false, retryable: true });
    expect(!outcome.ok && outcome.error).toMatch(/^AMQP_UNROUTABLE: .*"sms\.nobody"/);
    // RabbitMQ answered: the dispatcher's breaker takes it as alive.
    expect(outcome).toMatchObject({ answered: true });
    // The channel stays usable: the next message goes through.
    await expect(transport.deliver(payloadOf())).resolves.toMatchObject({ ok: true });
    await drain(rabbit.url, 'acme-in');
  });

  it('fails a message RabbitMQ nacks (a full queue that rejects publishes), retryably', async () => {
    const connection = await connect(rabbit.url);
    const channel = await connection.createChannel();
    await channel.assertQueue('full', {
      durable: true,
      arguments: { 'x-max-length': 1, 'x-overflow': 'reject-publish' },
    });
    await channel.bindQueue('full', exchange, 'sms.full');
    await connection.close();
    await expect(transport.deliver(payloadOf('full'))).resolves.toMatchObject({ ok: true });
    const outcome = await transport.deliver(payloadOf('full'));
    expect(outcome).toMatchObject({ ok: false, retryable: true });
    expect(!outcome.ok && outcome.error).toMatch(/^AMQP_NACK: .*"sms\.full"/);
    // One full queue, RabbitMQ alive: the breaker must not stop the target's other keys.
    expect(outcome).toMatchObject({ answered: true });
    await expect(transport.deliver(payloadOf())).resolves.toMatchObject({ ok: true });
    await drain(rabbit.url, 'acme-in');
    await drain(rabbit.url, 'full');
  });

  it('fails an attempt without a confirm in time, then at once while RabbitMQ blocks publishers (memory alarm)', async () => {
    await rabbit.ctl('set_vm_memory_high_watermark', '0.0000001');
    const quick = await connectedTransport({ ...target(), timeoutMs: 1500 }, 2);
    try {
      try {
        // RabbitMQ blocks a connection at its first publish after the alarm: that one waits.
        const outcome = await quick.deliver(payloadOf());
        expect(outcome).toMatchObject({ ok: false, retryable: true });
        expect(!outcome.ok && outcome.error).toMatch(/^AMQP_TIMEOUT: no confirm within 1500 ms/);
        expect(quick.isBlocked).toBe(true);
        // Blocked: no publish into the stalled connection (it would land later, beside its retry).
        const started = Date.now();
        const blocked = await quick.deliver(payloadOf());
        expect(blocked).toMatchObject({ ok: false, retryable: true });
        expect(!blocked.ok && blocked.error).toMatch(/^AMQP_BLOCKED: RabbitMQ blocks publishers \(low on memory\)/);
        expect(Date.now() - started).toBeLessThan(500);
      } finally {
        await rabbit.ctl('set_vm_memory_high_watermark', '0.9');
      }
      const deadline = Date.now() + 10_000;
      while (quick.isBlocked && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(quick.isBlocked).toBe(false);
      // The timed-out publish was held back, not lost: it may arrive now (a duplicate on retry).
      await expect(quick.deliver(payloadOf())).resolves.toMatchObject({ ok: true });
    } finally {
      await quick.close();
    }
    await drain(rabbit.url, 'acme-in');
  });

  it('fails an attempt whose exchange does not exist (the channel closes), and keeps going', async () => {
    const missing = await connectedTransport({ ...target(), exchange: 'no-such-exchange' }, 2);
    try {
      const outcome = await missing.deliver(payloadOf());
      expect(outcome).toMatchObject({ ok: false, retryable: true });
      // RabbitMQ's reason, for the message's last_error and the breaker: what to fix.
      expect(!outcome.ok && outcome.error).toMatch(
        /^AMQP_CHANNEL_CLOSED: Channel closed by server: 404 .*NOT_FOUND - no exchange 'no-such-exchange'/,
      );
      // A new channel replaces the closed one.
      const again = await missing.deliver(payloadOf());
      expect(again).toMatchObject({ ok: false, retryable: true });
      expect(!again.ok && again.error).toMatch(/NOT_FOUND - no exchange 'no-such-exchange'/);
    } finally {
      await missing.close();
    }
  });

  it('fails at once while RabbitMQ is down, and reconnects by itself when it is back', async () => {
    await rabbit.stop('SIGKILL');
    const deadline = Date.now() + 10_000;
    while (transport.isConnected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const started = Date.now();
    const outcome = await transport.deliver(payloadOf());
    expect(outcome).toMatchObject({ ok: false, retryable: true });
    expect(!outcome.ok && outcome.error).toMatch(/^AMQP_DISCONNECTED/);
    expect(Date.now() - started).toBeLessThan(1000);
    await rabbit.start();
    const back = Date.now() + 30_000;
    while (!transport.isConnected && Date.now() < back) await new Promise((r) => setTimeout(r, 100));
    await expect(transport.deliver(payloadOf())).resolves.toMatchObject({ ok: true });
    await drain(rabbit.url, 'acme-in');
  }, 120_000);

  it('says why it has no connection in each failed attempt: a refused login, a refused vhost', async () => {
    const whyDown = async (url: string): Promise<string> => {
      const refused = new AmqpTransport({ ...target(), url }, 2);
      await refused.start();
      try {
        const deadline = Date.now() + 20_000;
        for (;;) {
          const outcome = await refused.deliver(payloadOf());
          const error = outcome.ok ? '' : outcome.error;
          if (!/not connected yet/.test(error) || Date.now() > deadline) return error;
          await new Promise((r) => setTimeout(r, 100));
        }
      } finally {
        await refused.close();
      }
    };
    expect(await whyDown(rabbit.url.replace('guest:guest', 'guest:wrong'))).toMatch(
      /^AMQP_DISCONNECTED: no connection to RabbitMQ \(reconnecting\): .*ACCESS_REFUSED/,
    );
    expect(await whyDown(`${rabbit.url}/no-such-vhost`)).toMatch(
      /^AMQP_DISCONNECTED: .*RabbitMQ refused vhost "no-such-vhost" \(it does not exist/,
    );
  }, 60_000);

  it('logs a connection that keeps failing for the same reason once, not at every retry', async () => {
    const warnings: Array<{ fields: Record<string, unknown>; message: string }> = [];
    const logger = {
      info: () => {},
      warn: (fields: Record<string, unknown>, message: string) => {
        warnings.push({ fields, message });
      },
    } as unknown as Pick<Logger, 'info' | 'warn'>;
    const refused = new AmqpTransport(
      { ...target(), url: rabbit.url.replace('guest:guest', 'guest:wrong') },
      2,
      logger,
    );
    await refused.start();
    try {
      // Retries back off from 200 ms: several tries fail within 4 s.
      await new Promise((r) => setTimeout(r, 4000));
      const failures = warnings.filter((w) => w.message === 'amqp target connection failed; retrying');
      expect(failures).toHaveLength(1);
      expect(failures[0]!.fields).toMatchObject({ failed_tries: 1 });
      expect(String(failures[0]!.fields.err)).toMatch(/ACCESS_REFUSED/);
    } finally {
      await refused.close();
    }
  }, 30_000);

  it('loses nothing it confirmed when RabbitMQ is killed under load (duplicates only of unconfirmed ones)', async () => {
    const confirmed = new Set<string>();
    const attempted = new Set<string>();
    let stop = false;
    // 16 publishers, each retrying its message until confirmed, as the dispatcher would.
    const publisher = async () => {
      while (!stop) {
        const payload = payloadOf();
        attempted.add(payload.message_id);
        for (;;) {
          const outcome = await transport.deliver(payload);
          if (outcome.ok) {
            confirmed.add(payload.message_id);
            break;
          }
          if (stop) break;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    };
    const publishers = Array.from({ length: 16 }, publisher);
    await new Promise((r) => setTimeout(r, 1500));
    const beforeKill = confirmed.size;
    await rabbit.stop('SIGKILL');
    await new Promise((r) => setTimeout(r, 500));
    await rabbit.start();
    // Publishing again after the restart is the point; how soon depends on the box (the
    // transport's reconnect backoff and the node's start): wait for it, then a little more.
    const afterRestart = confirmed.size;
    const back = Date.now() + 60_000;
    while (confirmed.size <= afterRestart && Date.now() < back) await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 1000));
    stop = true;
    await Promise.all(publishers);
    const queued = (await drain(rabbit.url, 'acme-in')).map((m) => m.properties.messageId as string);
    const lost = [...confirmed].filter((id) => !queued.includes(id));
    expect(beforeKill).toBeGreaterThan(0);
    expect(confirmed.size).toBeGreaterThan(beforeKill);
    expect(lost).toEqual([]);
    // Whatever is in the queue was published by us; the only extras are unconfirmed attempts.
    expect(queued.every((id) => attempted.has(id))).toBe(true);
  }, 180_000);
});

describe('AMQP transport over TLS with a client certificate', () => {
  let rabbit: TestRabbitServer;
  let dir: string;
  let client: { cert: string; key: string };
  let caPem: string;

  beforeAll(async () => {
    const ca = createCa({ commonName: 'RabbitMQ Test CA', days: 2 });
    const server = issueServerCertificate(ca, {
      commonName: 'localhost',
      hostnames: ['localhost', '127.0.0.1'],
      days: 2,
    });
    const issued = issueClientCertificate(ca, { commonName: 'broker.test', days: 2 });
    client = { cert: issued.certPem, key: issued.keyPem };
    caPem = ca.certPem;
    dir = mkdtempSync(join(tmpdir(), 'mb-rabbit-tls-'));
    const files = { caFile: join(dir, 'ca.pem'), certFile: join(dir, 'server.pem'), keyFile: join(dir, 'server.key') };
    writeFileSync(files.caFile, ca.certPem);
    writeFileSync(files.certFile, server.certPem);
    writeFileSync(files.keyFile, server.keyPem, { mode: 0o644 });
    rabbit = await TestRabbitServer.create({ tls: files });
    await declareTopology(rabbit.url, { exchange: 'mb.tls', queue: 'tls-in', routingKey: 'acme' });
  }, 120_000);

  afterAll(async () => {
    await rabbit?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('publishes over amqps:// presenting its client certificate', async () => {
    const transport = await connectedTransport({
      url: rabbit.tlsUrl,
      exchange: 'mb.tls',
      routingKey: '{domain}',
      timeoutMs: 5000,
      tls: { ca: caPem, ...client },
    });
    try {
      const payload = payloadOf('acme');
      await expect(transport.deliver(payload)).resolves.toEqual({ ok: true, status: 200 });
      const [message] = await drain(rabbit.url, 'tls-in');
      expect(message?.properties.messageId).toBe(payload.message_id);
    } finally {
      await transport.close();
    }
  });

  it('is refused by a RabbitMQ that requires a client certificate when it has none', async () => {
    await expect(connect(rabbit.tlsUrl, { ca: [caPem], timeout: 5000 })).rejects.toThrow();
  });
});
