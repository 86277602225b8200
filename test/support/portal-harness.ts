/**
 * The portal in-process for `inject()` tests and the render benchmark: its own database,
 * Redis prefix, secrets and PKI dirs; real encryption, CA and ingest actors (from dist/);
 * `buildServer()` with the portal, no TLS (inject needs none). Two tenants are seeded:
 *
 *   alpha (webhook target)   clients a1, a2   users user@alpha (sees a1), admin@alpha
 *   beta  (store target)     client  b1       users user@beta (sees b1),  admin@beta
 *   superadmin root@test     every domain
 *
 * `startPortalReplica(h)` adds a second broker's front beside it: its own Redis connection,
 * database pool and portal services (sign-in throttle included), the same Redis prefix,
 * database, secrets and actors — two brokers behind one load balancer.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { ActorGraph } from '../../src/actors/actor-graph.js';
import { buildPortalDeps } from '../../src/app/portal-services.js';
import { loadConfig, type BrokerConfig } from '../../src/config/config.js';
import { LiveConfig } from '../../src/config/live-config.js';
import { openDatabase, type DatabaseHandle } from '../../src/db/database.js';
import { createRepositories, type Repositories } from '../../src/db/index.js';
import { MessagePagesRepository } from '../../src/db/message-pages.repository.js';
import type { MessageStatus, NewMessageRow } from '../../src/db/schema.js';
import { HealthService } from '../../src/health/health.service.js';
import { IdentityResolver } from '../../src/http/client-identity.js';
import { buildServer } from '../../src/http/server.js';
import { createLogger } from '../../src/logger.js';
import { caAdminAccess } from '../../src/portal/ca-admin-access.js';
import type { PasswordHasher } from '../../src/portal/password-hasher.js';
import type { PortalDeps } from '../../src/portal/portal.types.js';
import { createRedis } from '../../src/queue/redis-connection.js';
import { deleteKeys } from './broker-harness.js';
import { createTestDatabase, type TestDatabase } from './test-database.js';

export const PASSWORD = 'correct horse battery staple';

export interface SeededUser {
  id: number;
  email: string;
}

export interface Seed {
  clients: { a1: number; a2: number; b1: number };
  users: {
    userAlpha: SeededUser;
    adminAlpha: SeededUser;
    userBeta: SeededUser;
    adminBeta: SeededUser;
    root: SeededUser;
  };
}

export interface PortalHarness {
  app: FastifyInstance;
  config: Readonly<BrokerConfig>;
  database: TestDatabase;
  handle: DatabaseHandle;
  repositories: Repositories;
  actors: ActorGraph;
  redis: Redis;
  deps: PortalDeps;
  seed: Seed;
  /** Seals and stores messages through the real encryption actor; returns their ids. */
  addMessages(
    clientId: number,
    domain: string,
    items: Array<{
      body: string;
      sender: string;
      status?: MessageStatus;
      createdAt?: Date;
      target?: string;
      route?: string;
    }>,
  ): Promise<string[]>;
  close(): Promise<void>;
}

export interface PortalReplica {
  app: FastifyInstance;
  deps: PortalDeps;
  close(): Promise<void>;
}

export async function startPortalHarness(options: { values?: Record<string, unknown> } = {}): Promise<PortalHarness> {
  const dir = mkdtempSync(join(tmpdir(), 'mb-portal-'));
  const database = await createTestDatabase();
  const prefix = `mbtest:${randomBytes(5).toString('hex')}:`;
  const config = loadConfig({
    env: {},
    baseDir: dir,
    values: {
      instance_id: 'portal-test',
      redis: { key_prefix: prefix, embedded: 'never' },
      database: { url: database.url, embedded: 'never', pool_size: 4 },
      secrets: { dir: 'secrets' },
      pki: { dir: 'certs' },
      data: { dir: 'data' },
      log: { level: 'silent' },
      bootstrap: { demo_client: false },
      // Fast hashes in tests; the parameters travel with each hash, so verification is the same code.
      portal: { scrypt_log_n: 12 },
      domains: [
        {
          name: 'alpha',
          target: { type: 'webhook', url: 'https://127.0.0.1:9/hook', secret: 'test-secret' },
          status_callback: { secret: 'callback-secret', allowed_hosts: ['cb.alpha.test'] },
        },
        { name: 'beta', target: { type: 'store' } },
      ],
      ...options.values,
    },
  });
  const logger = createLogger('silent');
  const handle = openDatabase({ url: database.url, poolSize: 4 });
  const repositories = createRepositories(handle.db);
  const actors = new ActorGraph(config, logger, false);
  await actors.start(['encryption', 'ca', 'ingest']);
  await actors.ca.rpc.call('ca.bootstrap', { hostnames: ['localhost'], demo: null });
  const redis = createRedis(config, 'front');
  const health = new HealthService({
    instanceId: config.instance_id,
    version: 'test',
    redis,
    pingDatabase: async () => void (await handle.pool.query('SELECT 1')),
    actors: actors.all(),
    durability: () => undefined,
    serverCertificateNotAfter: () => new Date(Date.now() + 300 * 86_400_000),
  });
  const live = new LiveConfig(config);
  // The portal's services built the way the broker builds them (src/app/portal-services.ts).
  const deps = buildPortalDeps({
    config: live,
    repositories,
    messagePages: new MessagePagesRepository(handle.db),
    redis,
    actors,
    ca: actors.ca.rpc,
    encryption: actors.encryption.rpc,
    health,
    identity: new IdentityResolver((fp) => repositories.certificates.findIdentityByFingerprint(fp), 60_000),
  });
  const hasher = deps.hasher;
  const app = buildServer({
    config: live,
    logger,
    identity: deps.identity as IdentityResolver,
    ingest: { enqueue: () => Promise.reject(new Error('not in portal tests')) },
    redis,
    messages: repositories.messages,
    health,
    portal: deps,
    caAdmin: caAdminAccess(deps),
  });
  await app.ready();

  const seed = await seedTenants(repositories, hasher);

  async function addMessages(
    clientId: number,
    domain: string,
    items: Array<{
      body: string;
      sender: string;
      status?: MessageStatus;
      createdAt?: Date;
      target?: string;
      route?: string;
    }>,
  ): Promise<string[]> {
    const ids = items.map(() => randomUUID());
    const { items: sealed } = await actors.encryption.rpc.call('encryption.seal', {
      items: items.map((item, i) => ({ message_id: ids[i]!, sender_number: item.sender, message_body: item.body })),
    });
    const rows: NewMessageRow[] = items.map((item, i) => {
      const s = sealed[i]!;
      const at = item.createdAt ?? new Date();
      return {
        message_id: ids[i]!,
        client_id: clientId,
        domain,
        sender_hash: s.sender_hash,
        pepper_id: s.pepper_id,
        sender_masked: s.sender_masked,
        sender_enc: Buffer.from(s.sender_enc),
        body_enc: Buffer.from(s.body_enc),
        key_id: s.key_id,
        status: item.status ?? 'delivered',
        attempt_count: item.status === 'failed' ? 5 : 1,
        created_at: at,
        queued_at: at,
        delivered_at: (item.status ?? 'delivered') === 'delivered' ? at : null,
        ...(item.target ? { target: item.target } : {}),
        ...(item.route ? { route: item.route } : {}),
      };
    });
    await repositories.messages.insertBatch(rows);
    return ids;
  }

  return {
    app,
    config,
    database,
    handle,
    repositories,
    actors,
    redis,
    deps,
    seed,
    addMessages,
    async close() {
      await app.close();
      await actors.stop();
      redis.disconnect();
      await handle.close();
      await deleteKeys('redis://127.0.0.1:6379', prefix).catch(() => undefined);
      await database.drop().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A second broker's front sharing the harness's Redis prefix, database and secrets. */
export async function startPortalReplica(h: PortalHarness): Promise<PortalReplica> {
  const handle = openDatabase({ url: h.database.url, poolSize: 4 });
  const repositories = createRepositories(handle.db);
  const redis = createRedis(h.config, 'front');
  const live = new LiveConfig(h.config);
  const deps = buildPortalDeps({
    config: live,
    repositories,
    messagePages: new MessagePagesRepository(handle.db),
    redis,
    actors: h.actors,
    ca: h.actors.ca.rpc,
    encryption: h.actors.encryption.rpc,
    health: h.deps.health,
    identity: new IdentityResolver((fp) => repositories.certificates.findIdentityByFingerprint(fp), 60_000),
  });
  const app = buildServer({
    config: live,
    logger: createLogger('silent'),
    identity: deps.identity as IdentityResolver,
    ingest: { enqueue: () => Promise.reject(new Error('not in portal tests')) },
    redis,
    messages: repositories.messages,
    health: h.deps.health,
    portal: deps,
    caAdmin: caAdminAccess(deps),
  });
  await app.ready();
  return {
    app,
    deps,
    async close() {
      await app.close();
      redis.disconnect();
      await handle.close();
    },
  };
}

async function seedTenants(repositories: Repositories, hasher: PasswordHasher): Promise<Seed> {
  const hash = await hasher.hash(PASSWORD);
  const a1 = await repositories.clients.create({ name: 'a1', domain: 'alpha' });
  const a2 = await repositories.clients.create({ name: 'a2', domain: 'alpha' });
  const b1 = await repositories.clients.create({ name: 'b1', domain: 'beta' });
  const user = async (
    email: string,
    role: 'user' | 'admin' | 'superadmin',
    domain: string | null,
    client_id: number | null,
  ) => ({
    id: await repositories.users.create({ email, password_hash: hash, role, domain, client_id }),
    email,
  });
  return {
    clients: { a1, a2, b1 },
    users: {
      userAlpha: await user('user@alpha.test', 'user', 'alpha', a1),
      adminAlpha: await user('admin@alpha.test', 'admin', 'alpha', null),
      userBeta: await user('user@beta.test', 'user', 'beta', b1),
      adminBeta: await user('admin@beta.test', 'admin', 'beta', null),
      root: await user('root@test', 'superadmin', null, null),
    },
  };
}
