/**
 * Wiring for the supervisor: the portal's dependencies from the running broker, and the
 * first superadmin of an empty users table.
 */
import type { ActorGraph } from '../actors/actor-graph.js';
import type { BrokerConfig } from '../config/config.js';
import { createRepositories, isDuplicateKeyError, type Repositories } from '../db/index.js';
import type { DatabaseHandle } from '../db/database.js';
import { MessagePagesRepository } from '../db/message-pages.repository.js';
import type { HealthService } from '../health/health.service.js';
import type { IdentityResolver } from '../http/client-identity.js';
import type { Redis } from 'ioredis';
import { PasswordHasher, generatePassword } from './password-hasher.js';
import type { PortalDeps, PortalOperations } from './portal.types.js';
import { SessionTokens } from './session-tokens.js';

export interface PortalWiring {
  config: Readonly<BrokerConfig>;
  database: DatabaseHandle;
  redis: Redis;
  actors: ActorGraph;
  health: HealthService;
  identity: IdentityResolver;
  operations: PortalOperations;
}

export function createPortalDeps(wiring: PortalWiring): PortalDeps {
  const { config, database, actors } = wiring;
  return {
    repositories: createRepositories(database.db),
    messagePages: new MessagePagesRepository(database.db),
    redis: wiring.redis,
    actors: {
      encryption: actors.encryption.rpc,
      ca: actors.ca.rpc,
      ingestDepth: async () => (await actors.ingest.rpc.call('ingest.depth', {})).depth,
      deliveryStats: () => actors.delivery.rpc.call('delivery.stats', {}),
      downstreams: async () =>
        (await actors.delivery.rpc.call('delivery.downstreams', {}, { timeoutMs: 1000 })).downstreams,
    },
    sessions: SessionTokens.fromSecretsDir(config.secrets.dir, {
      idleSeconds: config.portal.session_idle_minutes * 60,
      maxSeconds: config.portal.session_max_hours * 3600,
    }),
    hasher: new PasswordHasher(config.portal.scrypt_log_n),
    health: wiring.health,
    identity: wiring.identity,
    operations: wiring.operations,
  };
}

export interface FirstAdmin {
  email: string;
  /** Shown once in the welcome text; only its hash is stored. */
  password: string;
}

/**
 * When no portal account exists, creates the superadmin `portal.first_admin_email` with a
 * random password. Two brokers starting on one empty database race here: the one whose
 * INSERT loses sees ER_DUP_ENTRY and prints nothing.
 */
export async function ensureFirstAdmin(
  repositories: Pick<Repositories, 'users' | 'audit'>,
  hasher: PasswordHasher,
  email: string,
): Promise<FirstAdmin | undefined> {
  if ((await repositories.users.count()) > 0) return undefined;
  const password = generatePassword();
  try {
    const id = await repositories.users.create({
      email,
      password_hash: await hasher.hash(password),
      role: 'superadmin',
      domain: null,
      client_id: null,
    });
    await repositories.audit.record({
      actor: 'system',
      action: 'user.create',
      target_type: 'user',
      target_id: String(id),
      details: { email, role: 'superadmin', first_start: true },
    });
  } catch (error) {
    if (isDuplicateKeyError(error)) return undefined;
    throw error;
  }
  return { email, password };
}
