/**
 * The admin API through `inject()`, in front of a real CA actor (worker thread from
 * dist/, real MariaDB and Redis) and the real ClientStatusService. A test `authorize` hook
 * stands in for the portal's session: header `x-test-admin: super | <domain>`.
 */
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CaProtocol } from '../../src/actors/ca/ca.protocol.js';
import type { CertificateSummary, IssuedBundle } from '../../src/ca/ca.types.js';
import { loadConfig } from '../../src/config/config.js';
import { LiveConfig } from '../../src/config/live-config.js';
import { ClientStatusService } from '../../src/clients/client-status.service.js';
import { AuditRepository } from '../../src/db/audit.repository.js';
import { ClientsRepository } from '../../src/db/clients.repository.js';
import { BrokerError } from '../../src/errors.js';
import type { HealthService } from '../../src/health/health.service.js';
import type { AdminScope } from '../../src/http/ca-admin.routes.js';
import { IdentityResolver } from '../../src/http/client-identity.js';
import { buildServer, type FrontDeps } from '../../src/http/server.js';
import { createLogger } from '../../src/logger.js';
import { makeWorkdir, type Workdir } from '../../src/pki/openssl.test-support.js';
import { announceClientStatus } from '../../src/queue/client-status-events.js';
import { clientStatusChannel, revocationChannel } from '../../src/queue/keys.js';
import { RpcPeer, type PortLike } from '../../src/rpc/rpc-peer.js';
import { ROOT } from '../support/broker-harness.js';
import { TEST_REDIS_URL, useTestDatabase, useTestRedis } from '../support/test-fixtures.js';

const testDb = useTestDatabase();
const { prefix } = useTestRedis();

let work: Workdir;
let worker: Worker;
let rpc: RpcPeer<CaProtocol>;
let app: FastifyInstance;
let subscriber: Redis;
let publisher: Redis;
const announced: string[] = [];
const statusAnnounced: string[] = [];
/** This broker's connections: what the routes refuse and close at once. */
const identity = new IdentityResolver(async () => undefined, 0);

function scopeOf(request: FastifyRequest): AdminScope {
  const who = String(request.headers['x-test-admin']);
  return who === 'super' ? { actor: 'user:1', domain: null } : { actor: `user:admin-of-${who}`, domain: who };
}

function frontDeps(withAdmin: boolean): FrontDeps {
  const config = loadConfig({
    values: {
      metrics: { client_names: ['metrics.ops'] },
      domains: [{ name: 'default' }, { name: 'acme' }, { name: 'ops', active: false }],
    },
    env: {},
  });
  return {
    config: new LiveConfig(config),
    logger: createLogger('silent'),
    identity: new IdentityResolver(async () => undefined, 0),
    ingest: { enqueue: () => Promise.reject(new BrokerError('QUEUE_UNAVAILABLE')) },
    // The message routes are not called here: a connection that never connects.
    redis: new Redis({ lazyConnect: true }),
    messages: { findOne: async () => undefined },
    health: {} as HealthService,
    ...(withAdmin
      ? {
          caAdmin: {
            ca: rpc,
            authorize: async (request: FastifyRequest) => {
              if (request.headers['x-test-admin'] === undefined)
                throw new BrokerError('UNAUTHORIZED', 'Sign in as an admin');
            },
            scope: scopeOf,
            clients: {
              clients: new ClientsRepository(testDb.handle.db),
              audit: new AuditRepository(testDb.handle.db),
              domainCallback: () => ({ secret: 'whsec_test', url: '', allowed_hosts: ['cb.ops.example'] }),
              status: new ClientStatusService({
                clients: new ClientsRepository(testDb.handle.db),
                identity,
                announce: (announcement) => announceClientStatus(publisher, prefix, announcement),
                origin: 'portal@test',
              }),
            },
          },
        }
      : {}),
  };
}

const call = async (method: 'GET' | 'POST' | 'PUT', url: string, admin?: string, payload?: unknown) => {
  const response = await app.inject({
    method,
    url,
    ...(admin ? { headers: { 'x-test-admin': admin } } : {}),
    ...(payload === undefined ? {} : { payload: payload as object }),
  });
  return { status: response.statusCode, headers: response.headers, body: response.json() as Record<string, unknown> };
};

beforeAll(async () => {
  work = makeWorkdir('mb-admin-');
  const config = loadConfig({
    values: {
      pki: { dir: join(work.dir, 'certs') },
      database: { url: testDb.url },
      redis: { key_prefix: prefix },
      metrics: { client_names: ['metrics.ops'] },
      domains: [{ name: 'default' }, { name: 'acme' }, { name: 'ops', active: false }],
      log: { level: 'silent' },
    },
    env: {},
  });
  worker = new Worker(join(ROOT, 'dist/actors/ca/ca.actor.js'), {
    workerData: { name: 'ca', config, peers: {}, faultInjection: false },
  });
  await new Promise<void>((resolve) =>
    worker.on('message', (m: { kind?: string }) => m?.kind === 'ready' && resolve()),
  );
  rpc = new RpcPeer<CaProtocol>({ peerName: 'ca', timeoutMs: 60_000 }, worker as unknown as PortLike);
  await rpc.call('ca.bootstrap', { hostnames: ['localhost'], demo: null });
  subscriber = new Redis(TEST_REDIS_URL);
  publisher = new Redis(TEST_REDIS_URL);
  await subscriber.subscribe(revocationChannel(prefix), clientStatusChannel(prefix));
  subscriber.on('message', (channel: string, message: string) =>
    (channel === clientStatusChannel(prefix) ? statusAnnounced : announced).push(message),
  );
  app = buildServer(frontDeps(true));
  await app.ready();
});

afterAll(async () => {
  await app?.close();
  subscriber?.disconnect();
  publisher?.disconnect();
  await worker?.terminate();
  work?.remove();
});

describe('certificate admin API', () => {
  let alice: IssuedBundle;
  let carol: IssuedBundle;

  it('exists only when an authorize hook is supplied, and refuses callers it does not authorize', async () => {
    const bare = buildServer(frontDeps(false));
    expect((await bare.inject({ method: 'GET', url: '/api/v1/admin/certificates' })).statusCode).toBe(404);
    await bare.close();
    for (const [method, url] of [
      ['GET', '/api/v1/admin/certificates'],
      ['POST', '/api/v1/admin/clients'],
      ['GET', '/api/v1/admin/crl'],
    ] as const) {
      const response = await call(method, url, undefined, method === 'POST' ? { name: 'x' } : undefined);
      expect(response.status).toBe(401);
      expect(response.body).toMatchObject({
        error_code: 'UNAUTHORIZED',
        tracking_id: expect.any(String),
        timestamp: expect.any(String),
      });
    }
  });

  it("issues a client in the admin's domain and hands out its key once, uncached and audited", async () => {
    const response = await call('POST', '/api/v1/admin/clients', 'acme', { name: 'alice', days: 30 });
    expect(response.status).toBe(201);
    expect(response.headers['cache-control']).toBe('no-store');
    alice = response.body as unknown as IssuedBundle;
    expect(alice).toMatchObject({
      common_name: 'alice.acme',
      key_pem: expect.stringContaining('PRIVATE KEY'),
      cert_pem: expect.stringContaining('CERTIFICATE'),
    });
    const [audit] = await new AuditRepository(testDb.handle.db).list({ limit: 1 });
    expect(audit).toMatchObject({
      actor: 'user:admin-of-acme',
      action: 'certificate.issue',
      target_id: alice.serial,
      domain: 'acme',
      ip: '127.0.0.1',
    });
  });

  it('holds a domain admin to their domain and asks a superadmin to name one', async () => {
    expect(
      (await call('POST', '/api/v1/admin/clients', 'acme', { name: 'bob', domain: 'default' })).body.error_code,
    ).toBe('FORBIDDEN');
    expect((await call('GET', '/api/v1/admin/certificates?domain=default', 'acme')).status).toBe(403);
    const missing = await call('POST', '/api/v1/admin/clients', 'super', { name: 'bob' });
    expect(missing.status).toBe(422);
    const superIssue = await call('POST', '/api/v1/admin/clients', 'super', { name: 'carol', domain: 'default' });
    expect(superIssue.status).toBe(201);
    carol = superIssue.body as unknown as IssuedBundle;
  });

  it('answers duplicates, bad input and unknown domains with the error schema', async () => {
    expect((await call('POST', '/api/v1/admin/clients', 'acme', { name: 'alice' })).body.error_code).toBe(
      'CLIENT_EXISTS',
    );
    expect((await call('POST', '/api/v1/admin/clients', 'acme', { name: 'Bad Name' })).status).toBe(422);
    expect((await call('POST', '/api/v1/admin/clients', 'acme', { name: 'x', extra: 1 })).status).toBe(422);
    // A name the schema takes, but whose CN would pass 64 characters: the caller's mistake, not a 500.
    const tooLong = await call('POST', '/api/v1/admin/clients', 'acme', { name: 'n'.repeat(64) });
    expect(tooLong.status).toBe(422);
    expect(tooLong.body.error_code).toBe('INVALID_PAYLOAD');
    expect(
      (await call('POST', '/api/v1/admin/clients', 'super', { name: 'x', domain: 'nowhere' })).body.error_code,
    ).toBe('UNKNOWN_DOMAIN');
  });

  it("lists certificates within the caller's scope, with filters", async () => {
    const own = (await call('GET', '/api/v1/admin/certificates', 'acme')).body.certificates as CertificateSummary[];
    expect(own.map((c) => c.common_name)).toEqual(['alice.acme']);
    const all = (await call('GET', '/api/v1/admin/certificates', 'super')).body.certificates as CertificateSummary[];
    expect(all.map((c) => c.common_name).sort()).toEqual(['alice.acme', 'carol.default']);
    const expiring = (await call('GET', '/api/v1/admin/certificates?expiring=true', 'super')).body
      .certificates as CertificateSummary[];
    expect(expiring.map((c) => c.common_name)).toEqual(['alice.acme']); // 30 days
  });

  it('renews with an overlap', async () => {
    const response = await call('POST', '/api/v1/admin/clients/alice/renew', 'acme', {});
    expect(response.status).toBe(201);
    expect(response.body.serial).not.toBe(alice.serial);
    const active = (
      (await call('GET', '/api/v1/admin/certificates?status=active', 'acme')).body.certificates as CertificateSummary[]
    ).filter((c) => c.client_name === 'alice');
    expect(active).toHaveLength(2);
  });

  it("refuses the operator's reasons (caCompromise, certificateHold) as the portal does, and revokes nothing", async () => {
    for (const reason of ['caCompromise', 'certificateHold']) {
      for (const [admin, url, payload] of [
        ['acme', `/api/v1/admin/certificates/${alice.serial}/revoke`, { reason }],
        ['acme', '/api/v1/admin/clients/alice/revoke', { reason }],
        ['super', '/api/v1/admin/clients/carol/revoke', { reason, domain: 'default' }],
      ] as const) {
        const response = await call('POST', url, admin, payload);
        expect(response.status, `${admin} ${url} ${reason}`).toBe(422);
        expect(response.body.error_code).toBe('INVALID_PAYLOAD');
      }
    }
    const active = (
      (await call('GET', '/api/v1/admin/certificates?status=active', 'super')).body.certificates as CertificateSummary[]
    ).map((c) => c.serial);
    expect(active).toEqual(expect.arrayContaining([alice.serial, carol.serial]));
  });

  it('revokes by serial within scope, re-signs the CRL and announces it', async () => {
    const outside = await call('POST', `/api/v1/admin/certificates/${carol.serial}/revoke`, 'acme', {
      reason: 'keyCompromise',
    });
    expect(outside.status).toBe(404);
    expect(outside.body.error_code).toBe('CERT_NOT_FOUND');
    announced.length = 0;
    const response = await call('POST', `/api/v1/admin/certificates/${alice.serial}/revoke`, 'acme', {
      reason: 'keyCompromise',
    });
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({
      revoked: [{ serial: alice.serial, fingerprint: alice.fingerprint }],
      crl: { revoked_serials: [alice.serial] },
    });
    expect(response.body).not.toHaveProperty('announced');
    await expect.poll(() => announced.length).toBe(1);
    expect(JSON.parse(announced[0]!)).toMatchObject({ kind: 'revoked', revoked: [{ serial: alice.serial }] });
    expect(
      (await call('POST', `/api/v1/admin/certificates/${alice.serial}/revoke`, 'acme', { reason: 'keyCompromise' }))
        .body.error_code,
    ).toBe('CERT_ALREADY_REVOKED');
  });

  it('revokes every active certificate of a client and serves the CRL', async () => {
    const response = await call('POST', '/api/v1/admin/clients/carol/revoke', 'super', {
      domain: 'default',
      reason: 'cessationOfOperation',
    });
    expect(response.status).toBe(200);
    expect(response.body.revoked).toEqual([{ serial: carol.serial, fingerprint: carol.fingerprint }]);
    const crl = await call('GET', '/api/v1/admin/crl', 'acme');
    expect(crl.body).toMatchObject({ pem: expect.stringContaining('BEGIN X509 CRL') });
    expect((crl.body.revoked_serials as string[]).sort()).toEqual([alice.serial, carol.serial].sort());
  });

  it('renews a third time: answers the overlapped certificate and the one it revoked as superseded', async () => {
    const first = (await call('POST', '/api/v1/admin/clients', 'acme', { name: 'erin' })).body;
    const second = (await call('POST', '/api/v1/admin/clients/erin/renew', 'acme', {})).body;
    expect(second).toMatchObject({ overlaps: { serial: first.serial }, superseded: [], crl_number: null });
    const third = await call('POST', '/api/v1/admin/clients/erin/renew', 'acme', {});
    expect(third.status).toBe(201);
    expect(third.body).toMatchObject({
      overlaps: { serial: second.serial, not_after: second.not_after },
      superseded: [{ serial: first.serial, fingerprint: first.fingerprint }],
      announced: true,
      key_pem: expect.stringContaining('PRIVATE KEY'),
    });
    const erin = (
      (await call('GET', '/api/v1/admin/certificates', 'acme')).body.certificates as CertificateSummary[]
    ).filter((c) => c.client_name === 'erin');
    expect(
      erin
        .filter((c) => c.status === 'active')
        .map((c) => c.serial)
        .sort(),
    ).toEqual([second.serial, third.body.serial].sort());
    expect(erin.find((c) => c.serial === first.serial)).toMatchObject({ status: 'revoked', reason: 'superseded' });
    const crl = await call('GET', '/api/v1/admin/crl', 'acme');
    expect(crl.body).toMatchObject({
      crl_number: third.body.crl_number,
      revoked_serials: expect.arrayContaining([first.serial]),
    });
  });
});

describe('metrics identities (issue #17)', () => {
  it('a domain admin cannot issue or renew a metrics identity, even in the scraper domain', async () => {
    const refused = await call('POST', '/api/v1/admin/clients', 'ops', { name: 'metrics' });
    expect(refused.status).toBe(403);
    expect(refused.body.error_code).toBe('METRICS_IDENTITY_RESERVED');
    // An ordinary client of that domain is still theirs to issue.
    expect((await call('POST', '/api/v1/admin/clients', 'ops', { name: 'probe' })).status).toBe(201);
  });

  it('a superadmin can, and then a domain admin still cannot renew it', async () => {
    const issued = await call('POST', '/api/v1/admin/clients', 'super', { name: 'metrics', domain: 'ops' });
    expect(issued.status).toBe(201);
    expect(issued.body.common_name).toBe('metrics.ops');
    const renewed = await call('POST', '/api/v1/admin/clients/metrics/renew', 'ops', {});
    expect(renewed.status).toBe(403);
    expect(renewed.body.error_code).toBe('METRICS_IDENTITY_RESERVED');
  });

  it('a client named "metrics" in a tenant domain is an ordinary client: issued, and no metrics identity', async () => {
    const issued = await call('POST', '/api/v1/admin/clients', 'acme', { name: 'metrics' });
    expect(issued.status).toBe(201);
    expect(issued.body.common_name).toBe('metrics.acme');
  });
});

describe('client disable/enable', () => {
  const clients = () => new ClientsRepository(testDb.handle.db);
  const statusOf = async (name: string, domain: string) => (await clients().findByNameAndDomain(name, domain))?.status;

  it("disables a client of the admin's domain: stored, announced to the other brokers, audited", async () => {
    statusAnnounced.length = 0;
    const response = await call('POST', '/api/v1/admin/clients/probe/disable', 'ops', {});
    expect(response.status).toBe(200);
    expect(response.headers['cache-control']).toBe('no-store');
    expect(response.body).toEqual({
      client: { name: 'probe', domain: 'ops', common_name: 'probe.ops', status: 'disabled' },
      announced: true,
    });
    expect(await statusOf('probe', 'ops')).toBe('disabled');
    await expect.poll(() => statusAnnounced.length).toBe(1);
    expect(JSON.parse(statusAnnounced[0]!)).toMatchObject({
      kind: 'client-status',
      common_name: 'probe.ops',
      status: 'disabled',
    });
    const [audit] = await new AuditRepository(testDb.handle.db).list({ limit: 1 });
    expect(audit).toMatchObject({
      actor: 'user:admin-of-ops',
      action: 'client.disable',
      target_type: 'client',
      domain: 'ops',
      ip: '127.0.0.1',
      details: { name: 'probe', announced: true },
    });
    // Again: the same answer, nothing else changes.
    expect((await call('POST', '/api/v1/admin/clients/probe/disable', 'ops', { domain: 'ops' })).status).toBe(200);
  });

  it('enables it again', async () => {
    const response = await call('POST', '/api/v1/admin/clients/probe/enable', 'ops', {});
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ client: { common_name: 'probe.ops', status: 'active' }, announced: true });
    expect(await statusOf('probe', 'ops')).toBe('active');
    const [audit] = await new AuditRepository(testDb.handle.db).list({ limit: 1 });
    expect(audit).toMatchObject({ actor: 'user:admin-of-ops', action: 'client.enable' });
  });

  it("holds a domain admin to their domain: another domain's client is 403 by domain, 404 by name alone", async () => {
    const named = await call('POST', '/api/v1/admin/clients/carol/disable', 'acme', { domain: 'default' });
    expect(named.status).toBe(403);
    expect(named.body.error_code).toBe('FORBIDDEN');
    const unnamed = await call('POST', '/api/v1/admin/clients/carol/disable', 'acme', {});
    expect(unnamed.status).toBe(404);
    expect(unnamed.body.error_code).toBe('NOT_FOUND');
    expect(await statusOf('carol', 'default')).toBe('active');
  });

  it('asks a superadmin to name the domain; unknown clients are 404', async () => {
    expect((await call('POST', '/api/v1/admin/clients/carol/disable', 'super', {})).status).toBe(422);
    const response = await call('POST', '/api/v1/admin/clients/carol/disable', 'super', { domain: 'default' });
    expect(response.status).toBe(200);
    expect(await statusOf('carol', 'default')).toBe('disabled');
    expect((await call('POST', '/api/v1/admin/clients/carol/enable', 'super', { domain: 'default' })).status).toBe(200);
    expect((await call('POST', '/api/v1/admin/clients/nobody/disable', 'super', { domain: 'default' })).status).toBe(
      404,
    );
  });

  it('takes JSON only (a cross-site form cannot send it) and refuses callers it does not authorize', async () => {
    expect((await call('POST', '/api/v1/admin/clients/probe/disable', 'ops')).status).toBe(422);
    const form = await app.inject({
      method: 'POST',
      url: '/api/v1/admin/clients/probe/disable',
      headers: { 'x-test-admin': 'ops', 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'domain=ops',
    });
    expect(form.statusCode).toBe(415);
    const plain = await app.inject({
      method: 'POST',
      url: '/api/v1/admin/clients/probe/disable',
      headers: { 'x-test-admin': 'ops', 'content-type': 'text/plain' },
      payload: '{}',
    });
    expect(plain.statusCode).toBe(415);
    expect((await call('POST', '/api/v1/admin/clients/probe/disable', undefined, {})).status).toBe(401);
    expect((await call('POST', '/api/v1/admin/clients/probe/disable', 'ops', { extra: 1 })).status).toBe(422);
    expect(await statusOf('probe', 'ops')).toBe('active');
  });
});

describe("a client's status callback URL", () => {
  const urlOf = async (name: string, domain: string) =>
    (await new ClientsRepository(testDb.handle.db).findByNameAndDomain(name, domain))?.status_callback_url;

  it('lets a domain admin name only the hosts the domain names; a superadmin any', async () => {
    const allowed = await call('PUT', '/api/v1/admin/clients/probe/status-callback', 'ops', {
      url: 'https://cb.ops.example/in',
    });
    expect(allowed.status).toBe(200);
    for (const inside of [
      'https://169.254.169.254/latest/meta-data/',
      'https://127.0.0.1:6379/',
      'https://cb.ops.example.evil.test/',
    ]) {
      const refused = await call('PUT', '/api/v1/admin/clients/probe/status-callback', 'ops', { url: inside });
      expect(refused.status, inside).toBe(422);
      expect(refused.body).toMatchObject({
        error_code: 'INVALID_PAYLOAD',
        details: [{ field: 'url', rule: 'allowed_hosts' }],
      });
      expect(refused.body.message).toContain('only a superadmin may send callbacks elsewhere');
    }
    expect(await urlOf('probe', 'ops')).toBe('https://cb.ops.example/in');
    const anywhere = await call('PUT', '/api/v1/admin/clients/probe/status-callback', 'super', {
      domain: 'ops',
      url: 'https://hooks.internal.test/x',
    });
    expect(anywhere.status).toBe(200);
    expect(await urlOf('probe', 'ops')).toBe('https://hooks.internal.test/x');
    expect((await call('PUT', '/api/v1/admin/clients/probe/status-callback', 'ops', { url: null })).status).toBe(200);
    expect(await urlOf('probe', 'ops')).toBeNull();
  });
});
