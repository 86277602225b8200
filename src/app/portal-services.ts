/**
 * The portal's services, built once per broker by the composition root (and by the
 * portal test harness the same way). The portal's routes receive them through
 * `PortalDeps` and build nothing themselves.
 *
 *   LiveConfig ─┬─▶ UserAdmin, DeadLetterService, MessageBrowser (domains in force)
 *   repositories┘   AuthService (sessions, hasher, login throttle), BundleStash
 *   front Redis ───▶ DeadLetterService, DeliverySchedule (retry depth), sender-search limit,
 *                    sign-in throttle per address
 *   actors ────────▶ encryption (open, hash), ca (issue, renew, revoke), stats
 *   identity, Redis ▶ ClientStatusService (disable/enable: here at once, announced to the others)
 */
import type { Redis } from 'ioredis';
import { OnceForms } from '../portal/once-forms.js';
import type { ActorGraph } from '../actors/actor-graph.js';
import type { CaRpc } from '../http/ca-admin.routes.js';
import type { LiveConfig } from '../config/live-config.js';
import { DeadLetterService } from '../dead-letters/dead-letter.service.js';
import type { Repositories } from '../db/index.js';
import type { MessagePagesRepository } from '../db/message-pages.repository.js';
import type { HealthService } from '../health/health.service.js';
import type { Logger } from '../logger.js';
import { ClientStatusService } from '../clients/client-status.service.js';
import type { IdentityResolver } from '../http/client-identity.js';
import { AuthService } from '../portal/auth.service.js';
import { BundleStash } from '../portal/bundle-stash.js';
import { LocalLoginThrottle, THROTTLE_WINDOW_MS } from '../portal/local-login-throttle.js';
import { LoginThrottle } from '../portal/login-throttle.js';
import { MessageBrowser } from '../portal/message-browser.service.js';
import { PasswordHasher } from '../portal/password-hasher.js';
import type { PortalActors, PortalDeps, PortalOperations } from '../portal/portal.types.js';
import { SessionTokens } from '../portal/session-tokens.js';
import { UserAdmin } from '../portal/user-admin.service.js';
import { announceClientStatus } from '../queue/client-status-events.js';
import { SharedIdentityCache } from '../queue/identity-cache.js';
import { LoginAddressLimit } from '../queue/login-address-limit.js';
import { DeliverySchedule } from '../queue/schedule.js';
import { defineScripts } from '../queue/scripts.js';
import { SenderSearchLimit } from '../queue/sender-search-limit.js';

export interface PortalWiring {
  config: LiveConfig;
  repositories: Repositories;
  messagePages: MessagePagesRepository;
  /** The front's Redis connection (dead letters, retry schedule). */
  redis: Redis;
  actors: ActorGraph;
  /** The CA actor's calls (the broker's on-demand CaClient; a test may pass the actor's RpcPeer). */
  ca: CaRpc;
  /** The encryption actor's calls (the broker's on-demand client; a test may pass the actor's RpcPeer). */
  encryption: PortalActors['encryption'];
  health: HealthService;
  /** Drops a disabled client's cached identities and connections. */
  identity?: Pick<IdentityResolver, 'forgetClient' | 'disableClient'>;
  /** The reload button; absent where no supervisor runs. */
  operations?: PortalOperations;
  /** Where the services report trouble (the sign-in throttle losing Redis). */
  logger?: Logger;
}

export function buildPortalDeps(wiring: PortalWiring): PortalDeps {
  const { config, repositories, redis } = wiring;
  // The portal section needs a restart to change (config-reload.ts): read once here.
  const portal = config.current().portal;
  const sessions = SessionTokens.fromSecretsDir(config.current().secrets.dir, {
    idleSeconds: portal.session_idle_minutes * 60,
    maxSeconds: portal.session_max_hours * 3600,
  });
  const hasher = new PasswordHasher(portal.scrypt_log_n, portal.scrypt_p);
  const actors = portalActors(wiring.actors, wiring.ca, wiring.encryption);
  return {
    config,
    repositories,
    messagePages: wiring.messagePages,
    actors,
    sessions,
    hasher,
    health: wiring.health,
    ...(wiring.identity ? { identity: wiring.identity } : {}),
    ...(wiring.operations ? { operations: wiring.operations } : {}),
    auth: new AuthService(
      repositories.users,
      repositories.audit,
      hasher,
      sessions,
      new LoginThrottle(
        new LoginAddressLimit(redis, config.current().redis.key_prefix, portal.ip_max_failures, THROTTLE_WINDOW_MS),
        new LocalLoginThrottle(portal.ip_max_failures),
        wiring.logger,
      ),
      { maxFailures: portal.login_max_failures, lockoutMs: portal.lockout_minutes * 60_000 },
    ),
    browser: new MessageBrowser(
      wiring.messagePages,
      repositories.clients,
      repositories.audit,
      actors,
      portal.page_size,
      new SenderSearchLimit(
        redis,
        config.current().redis.key_prefix,
        portal.sender_search_limit,
        portal.sender_search_window_minutes * 60_000,
      ),
    ),
    userAdmin: new UserAdmin(repositories.users, repositories.clients, repositories.audit, hasher, config),
    deadLetters: new DeadLetterService(config, redis, repositories.messages, repositories.audit),
    schedule: new DeliverySchedule(redis, defineScripts(redis)),
    stash: new BundleStash(),
    onceForms: new OnceForms(redis, config.current().redis.key_prefix),
    // The key prefix and instance id need a restart to change: read once here.
    clientStatus: new ClientStatusService({
      clients: repositories.clients,
      identity: wiring.identity,
      announce: (announcement) => announceClientStatus(redis, config.current().redis.key_prefix, announcement),
      origin: `portal@${config.current().instance_id}`,
      shareIdentities: shareIdentitiesOf(wiring),
    }),
  };
}

/** An enabled client's identities into the shared cache; undefined when it is off (needs a restart to change). */
function shareIdentitiesOf({
  config,
  repositories,
  redis,
}: PortalWiring): ((clientId: number) => Promise<void>) | undefined {
  const { server, redis: redisConfig } = config.current();
  if (server.identity_shared_cache_ms === 0) return undefined;
  const shared = new SharedIdentityCache(redis, redisConfig.key_prefix, server.identity_shared_cache_ms);
  return async (clientId) => {
    for (const identity of await repositories.certificates.listActiveIdentitiesOfClient(clientId))
      await shared.remember(identity);
  };
}

/** The actor calls the portal makes. The front never holds a data key or the CA key. */
function portalActors(actors: ActorGraph, ca: CaRpc, encryption: PortalActors['encryption']): PortalActors {
  return {
    encryption,
    ca,
    ingestDepth: async () => (await actors.ingest.rpc.call('ingest.depth', {})).depth,
    deliveryStats: () => actors.delivery.rpc.call('delivery.stats', {}),
    downstreams: async () =>
      (await actors.delivery.rpc.call('delivery.downstreams', {}, { timeoutMs: 1000 })).downstreams,
  };
}
