/** What the portal is given (through `FrontDeps.portal`) and what it hangs on each request. */
import type { Redis } from 'ioredis';
import type { DeliveryStats } from '../delivery/delivery.types.js';
import type { DispatcherSnapshot } from '../delivery/webhook-dispatcher.js';
import type { BrokerConfig } from '../config/config.js';
import type { ReloadResult } from '../config/config-reload.js';
import type { EncryptionCalls } from '../actors/encryption/encryption.protocol.js';
import type { Repositories } from '../db/index.js';
import type { MessagePagesRepository } from '../db/message-pages.repository.js';
import type { UserRow } from '../db/schema.js';
import type { HealthService } from '../health/health.service.js';
import type { CaRpc } from '../http/ca-admin.routes.js';
import type { IdentityResolver } from '../http/client-identity.js';
import type { RpcPeer } from '../rpc/rpc-peer.js';
import type { PasswordHasher } from './password-hasher.js';
import type { SessionClaims, SessionTokens } from './session-tokens.js';
import type { Scope } from './tenant-scope.js';

/** The actor calls the portal makes. The front never holds a data key or the CA key. */
export interface PortalActors {
  /** 'encryption.open' (bodies for display) and 'encryption.hash' (sender filter). */
  encryption: Pick<RpcPeer<EncryptionCalls>, 'call'>;
  /** 'ca.issue', 'ca.renew', 'ca.revoke' (and the admin API's 'ca.list', 'ca.crl'). */
  ca: CaRpc;
  /** Unstored backlog per domain (the ingest actor's 'ingest.depth'). */
  ingestDepth(): Promise<Record<string, number>>;
  /** Delivery counters since the delivery actor started. */
  deliveryStats(): Promise<DeliveryStats>;
  /** Per webhook downstream: breaker, slots, attempts in flight, operational switch. */
  downstreams(): Promise<DispatcherSnapshot[]>;
}

/** The running broker's config, and its reload (the same as SIGHUP). */
export interface PortalOperations {
  /** The config in force now: a reload may have changed the domains since the portal started. */
  currentConfig(): Readonly<BrokerConfig>;
  /** Re-reads the config file and applies it; rejects with a ConfigError when the file is invalid. */
  reloadFromFile(): Promise<ReloadResult>;
}

export interface PortalDeps {
  repositories: Repositories;
  messagePages: MessagePagesRepository;
  redis: Redis;
  actors: PortalActors;
  sessions: SessionTokens;
  hasher: PasswordHasher;
  health: HealthService;
  /** Drops a certificate's cached identity and closes its connections (client disabled). */
  identity?: Pick<IdentityResolver, 'invalidate'>;
  /** Absent where no supervisor runs (portal tests with inject): then there is no reload button. */
  operations?: PortalOperations;
}

export interface PortalRequestState {
  user: UserRow;
  claims: SessionClaims;
  scope: Scope;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the portal's session hook on every authenticated portal request. */
    portal?: PortalRequestState;
  }
}
