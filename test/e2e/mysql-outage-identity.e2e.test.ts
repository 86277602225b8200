/**
 * Accepting without MySQL: two started brokers share one Redis and reach MariaDB through a
 * TCP proxy that the test cuts for longer than the in-memory identity cache (1 s here).
 * New connections of known clients keep getting 202 — on the broker that resolved them and
 * on one whose memory never saw them (the identity cache is shared in Redis) — while a
 * client disabled or revoked during the outage (by `mb` on a host that still reaches MySQL)
 * is refused (and accepted again once enabled), and a certificate whose identity is in no
 * cache gets 503 STORAGE_UNAVAILABLE. The brokers stay ready meanwhile (a load balancer keeps
 * sending to them).
 */
import { X509Certificate } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { identityKey } from '../../src/queue/keys.js';
import {
  BrokerProcess,
  createWorkspace,
  demoBundle,
  getJson,
  mtlsAgent,
  postJson,
  waitUntil,
  type ApiResponse,
  type Workspace,
} from '../support/broker-harness.js';
import { runCli } from '../support/mb-cli.js';
import { freePort } from '../support/redis-server.js';
import { TcpProxy } from '../support/tcp-proxy.js';

const IDENTITY_CACHE_MS = 1000;

let workspace: Workspace;
let proxy: TcpProxy;
let directDatabaseUrl: string;
let redis: Redis;
const brokers: BrokerProcess[] = [];
const urls: string[] = [];
const agents: Agent[] = [];

/** `mb` on a host that still reaches MySQL (not through the cut proxy). */
async function mb(...args: string[]): Promise<string> {
  const result = await runCli(args, {
    configPath: workspace.configPath,
    env: { MB_DATABASE_URL: directDatabaseUrl },
  });
  if (result.code !== 0) throw new Error(`mb ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
  return result.stdout;
}

/** One message over a connection of its own: a NEW TLS connection, so no identity held by a socket. */
async function sendOnNewConnection(url: string, cn: string): Promise<ApiResponse> {
  const agent = mtlsAgent(demoBundle(workspace, cn), 1);
  agents.push(agent);
  try {
    return await postJson(agent, url, { sender_number: '+14155550123', message_body: `from ${cn}` });
  } finally {
    await agent.close();
  }
}

beforeAll(async () => {
  workspace = await createWorkspace({ server: { identity_cache_ms: IDENTITY_CACHE_MS } });
  const database = new URL(workspace.database.url);
  directDatabaseUrl = database.toString();
  proxy = await TcpProxy.create(database.hostname, Number(database.port || 3306));
  database.port = String(proxy.port);
  workspace.reconfigure({ database: { url: database.toString() } });
  // Two brokers of one installation (same certs/, secrets, Redis and database), as scale-out runs them.
  for (let i = 0; i < 2; i++) {
    const port = await freePort();
    const broker = new BrokerProcess(workspace, { MB_SERVER_PORT: String(port), MB_INSTANCE_ID: `identity-${i}` });
    brokers.push(broker);
    await broker.start();
    urls.push(`https://localhost:${port}`);
  }
  redis = new Redis(workspace.redisUrl);
  for (const name of ['gone', 'stranger', 'revoked']) await mb('client', 'issue', `${name}.default`);
}, 240_000);

afterAll(async () => {
  await Promise.all(agents.map((a) => a.close().catch(() => undefined)));
  await Promise.all(brokers.map((b) => b.kill('SIGKILL')));
  await proxy?.close();
  redis?.disconnect();
  await workspace?.cleanup();
});

describe('MySQL away for longer than the in-memory identity cache', () => {
  it('accepts new connections of known clients on every broker, refuses the disabled, the revoked and the unknown', async () => {
    const [first, second] = urls as [string, string];
    // Before: the demo client is resolved through MySQL by the first broker (and so shared).
    const before = await sendOnNewConnection(first, 'demo.default');
    expect(before.status).toBe(202);
    const lookups = mtlsAgent(demoBundle(workspace, 'demo.default'), 1);
    agents.push(lookups);
    const lookup = () => getJson(lookups, `${first}/api/v1/messages/${String(before.body.message_id)}`);
    await waitUntil(async () => (await lookup()).body.stored_at != null || undefined, 10_000, 'the message stored');
    expect(await redis.exists(identityKey(workspace.prefix, fingerprintOf('demo.default')))).toBe(1);
    // An identity that is in no cache: issued before the shared cache existed, or its entry expired.
    expect(await redis.del(identityKey(workspace.prefix, fingerprintOf('stranger.default')))).toBe(1);

    await proxy.cut();
    await new Promise((resolve) => setTimeout(resolve, IDENTITY_CACHE_MS * 3));

    // A new connection to the broker that resolved it, and to one whose memory never saw it.
    for (const url of [first, second]) expect((await sendOnNewConnection(url, 'demo.default')).status).toBe(202);
    // Still ready (a load balancer keeps sending), while the health report names MySQL.
    const probe = mtlsAgent({ ca: demoBundle(workspace).ca }, 1);
    agents.push(probe);
    expect((await getJson(probe, `${first}/readyz`)).body).toMatchObject({ ready: true });
    const health = await getJson(probe, `${first}/api/v1/health`);
    expect((health.body.components as Record<string, { status: string }>).mysql?.status).toBe('down');
    // Shared at issue: accepted although no broker ever resolved it.
    expect((await sendOnNewConnection(second, 'gone.default')).status).toBe(202);
    // A stored message's status needs MySQL: 503 STORAGE_UNAVAILABLE with Retry-After (README).
    const stored = await lookup();
    expect([stored.status, stored.body.error_code, stored.headers['retry-after']]).toEqual([
      503,
      'STORAGE_UNAVAILABLE',
      '1',
    ]);
    const unknown = await sendOnNewConnection(first, 'stranger.default');
    expect(unknown.status).toBe(503);
    expect(unknown.body.error_code).toBe('STORAGE_UNAVAILABLE');

    // Disabled and revoked during the outage, announced through Redis.
    await mb('client', 'disable', 'gone.default');
    await mb('client', 'revoke', 'revoked.default', '--reason', 'keyCompromise');
    for (const url of [first, second]) {
      const disabled = await sendOnNewConnection(url, 'gone.default');
      expect([disabled.status, disabled.body.error_code]).toEqual([403, 'CLIENT_DISABLED']);
      // The CRL reload on each broker follows the announcement within moments; from then on
      // the handshake of the revoked certificate is cut (the CRL needs no MySQL).
      await waitUntil(
        () =>
          sendOnNewConnection(url, 'revoked.default').then(
            () => undefined,
            (error: Error) => /closed|reset/i.test(error.message) || undefined,
          ),
        10_000,
        'the handshake of the revoked certificate to be cut',
      );
    }
    // Enabled again (its entry expired meanwhile): the enable shares its identity anew and
    // lifts the marker, so both brokers accept it without MySQL.
    await redis.del(identityKey(workspace.prefix, fingerprintOf('gone.default')));
    await mb('client', 'enable', 'gone.default');
    for (const url of [first, second]) expect((await sendOnNewConnection(url, 'gone.default')).status).toBe(202);
    // The revocation took the certificate out of the shared cache with its announcement.
    expect(await redis.exists(identityKey(workspace.prefix, fingerprintOf('revoked.default')))).toBe(0);
    // The known client is still served through all of it.
    expect((await sendOnNewConnection(second, 'demo.default')).status).toBe(202);

    await proxy.restore();
    // MySQL is the authority again: the stranger is known there.
    await waitUntil(
      async () => (await sendOnNewConnection(first, 'stranger.default')).status === 202 || undefined,
      20_000,
      'the stranger to be accepted once MySQL is back',
    );
  }, 180_000);

  it('logged the outage by error code, never a failed query with its parameters', () => {
    for (const broker of brokers) {
      expect(broker.output).toContain('"err":"database error');
      expect(broker.output).not.toContain('Failed query');
    }
  });
});

function fingerprintOf(cn: string): string {
  return new X509Certificate(demoBundle(workspace, cn).cert).fingerprint256.replaceAll(':', '').toLowerCase();
}
