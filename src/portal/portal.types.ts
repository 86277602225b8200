/**
 * What the portal is given (through `FrontDeps.portal`) and what it hangs on each request.
 * Every service here is built once, by the composition root (src/app/portal-services.ts):
 * the portal's route modules mount what they are given and build nothing.
 */
import type { DeliveryStats } from '../delivery/delivery.types.js';
import type { DispatcherSnapshot } from '../delivery/target-dispatcher.js';
import type { ReloadResult } from '../config/config-reload.js';
import type { LiveConfig } from '../config/live-config.js';
import type { EventHub } from '../events/event-hub.js';
import type { DeadLetterService } from '../dead-letters/dead-letter.service.js';
import type { EncryptionCalls } from '../actors/encryption/encryption.protocol.js';
import type { Repositories } from '../db/index.js';
import type { MessagePagesRepository } from '../db/message-pages.repository.js';
import type { UserRow } from '../db/schema.js';
import type { HealthService } from '../health/health.service.js';
import type { ClientStatusService } from '../clients/client-status.service.js';
import type { CaRpc } from '../http/ca-admin.routes.js';
import type { IdentityResolver } from '../http/client-identity.js';
import type { DeliverySchedule } from '../queue/schedule.js';
import type { RpcPeer } from '../rpc/rpc-peer.js';
import type { AuthService } from './auth.service.js';
import type { OnceForms } from './once-forms.js';
import type { BundleStash } from './bundle-stash.js';
import type { MessageBrowser } from './message-browser.service.js';
import type { PasswordHasher } from './password-hasher.js';
import type { SessionClaims, SessionTokens } from './session-tokens.js';
import type { Scope } from './tenant-scope.js';
import type { UserAdmin } from './user-admin.service.js';

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

/** The running broker's reload (the same as SIGHUP). */
export interface PortalOperations {
  /** Re-reads the config file and applies it; rejects with a ConfigError when the file is invalid. */
  reloadFromFile(): Promise<ReloadResult>;
}

/** The portal's services: one each per broker, shared by every route that needs it. */
export interface PortalServices {
  /** Sign-in, session checks (also the certificate admin API's), sign-out, password changes. */
  auth: AuthService;
  /** The messages list and detail (decryption through the encryption actor). */
  browser: MessageBrowser;
  /** Account rules shared with `mb user`. */
  userAdmin: UserAdmin;
  /** Dead letters: pages, retry, redrive (shared with `mb dead-letter`). */
  deadLetters: DeadLetterService;
  /** The retry schedule's depth per webhook domain (overview page). */
  schedule: Pick<DeliverySchedule, 'depth'>;
  /** Freshly issued keys, held until their one download. */
  stash: BundleStash;
  /** Forms that must not run twice from one page (a refresh of their result). */
  onceForms: OnceForms;
}

/** Everything the portal mounts with: the config in force, data access, actors, services. */
export interface PortalDeps extends PortalServices {
  config: LiveConfig;
  /** Status events, for the live pages (`/portal/live`); absent: pages do not update by themselves. */
  events?: EventHub;
  repositories: Repositories;
  messagePages: MessagePagesRepository;
  actors: PortalActors;
  sessions: SessionTokens;
  hasher: PasswordHasher;
  health: HealthService;
  /** This broker's identities (the client status service applies a change to them at once). */
  identity?: Pick<IdentityResolver, 'forgetClient' | 'disableClient'>;
  /** Disable/enable a client: MySQL, this broker's connections, and an announcement to the others. */
  clientStatus: ClientStatusService;
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
