/**
 * The main thread's side of revocation: makes a revocation take effect on this broker
 * at once, whichever host or process performed it.
 *
 *   Redis pub/sub (CA actor, mb CLI, any host) ─┐
 *   Redis key <prefix>pki:crl (on reconnect)  ──┼─▶ verify CRL ─▶ TLS context reload (new handshakes fail)
 *   certs/crl.pem, server.crt (polled)        ──┘             └─▶ revoked clients' open sockets: next
 *                                                                 request 403 CERT_REVOKED, closed ≤ 0.5 s
 *
 * Everything funnels into one CRL check: the revoked serials of the newest verified CRL
 * are matched against the open connections, so a broker that missed a message (Redis
 * blip, restart) still closes what it must once it catches up.
 *
 * Client status travels the same subscriber connection (src/queue/client-status-events.ts):
 *
 *   <prefix>events:client-status ─▶ forget the client's cached identities ─▶ read its status
 *   (portal, mb CLI, any host)      from MySQL ─▶ disabled: open sockets' next request 403
 *                                   CLIENT_DISABLED, closed ≤ 0.5 s; new connections refused
 *
 * A reconnect of that connection forgets every cached identity (a status message may have
 * been missed), so each open connection asks the database again on its next request.
 * While MySQL is away, the status is read from the disable marker of the shared identity
 * cache instead (src/queue/identity-cache.ts), which the announcer sets with its message.
 */
import { statSync } from 'node:fs';
import type { Server as TlsServer, TLSSocket } from 'node:tls';
import type { Redis } from 'ioredis';
import type { Logger } from '../logger.js';
import type { CertStore } from '../pki/cert-store.js';
import { parseCrl, type ParsedCrl } from '../pki/crl.js';
import { tryNormalizeSerialHex } from '../pki/serial.js';
import { subscribeToClientStatus, type ClientStatusAnnouncement } from '../queue/client-status-events.js';
import { readLatestCrl, subscribeToCrlAnnouncements, type CrlAnnouncement } from '../queue/revocation-events.js';
import { closeSoon, type IdentityResolver } from './client-identity.js';
import type { TlsReloader } from './tls-reloader.js';
import { describeError } from '../db/database.js';

export interface RevocationListenerDeps {
  tls: TlsReloader;
  identity: IdentityResolver;
  store: CertStore;
  logger: Logger;
  keyPrefix: string;
  /** For reading the last announcement; any connection. */
  redis: Redis;
  /** Used for nothing else: a subscribed connection cannot run commands. */
  subscriber: Redis;
  checkIntervalMs: number;
  /** The authority on a client's status (an announcement is only a hint); undefined = no such client. */
  clientStatusOf: (clientId: number) => Promise<'active' | 'disabled' | undefined>;
  /**
   * While MySQL is away: whether the shared identity cache marks the client disabled (the
   * announcer sets the marker in the same transaction as its message). Absent = no such cache.
   */
  markedDisabled?: (clientId: number) => Promise<boolean>;
}

type FileStamp = string | undefined;

export class RevocationListener {
  private timer: NodeJS.Timeout | undefined;
  private stamps = new Map<string, FileStamp>();
  private subscribedOnce = false;

  constructor(private readonly deps: RevocationListenerDeps) {
    for (const path of this.watchedFiles()) this.stamps.set(path, stampOf(path));
    // ioredis reconnects by itself; without a listener each failed attempt would be an unhandled 'error'.
    deps.subscriber.on('error', (error) =>
      deps.logger.debug({ err: error.message }, 'redis subscriber connection error'),
    );
  }

  async start(): Promise<void> {
    const { subscriber, keyPrefix, logger } = this.deps;
    await subscribeToCrlAnnouncements(
      subscriber,
      keyPrefix,
      (a) => this.onAnnouncement(a, 'pub/sub'),
      () => {
        // The first 'ready' is the start's, whose own catch-up follows the subscriptions
        // (catching up here too applied the last announcement twice).
        if (!this.subscribedOnce) return;
        // Status announcements are not kept anywhere: after a reconnect, ask the database again.
        this.deps.identity.forgetAll();
        void this.catchUp();
      },
    );
    await subscribeToClientStatus(subscriber, keyPrefix, (a) => void this.onClientStatus(a));
    this.subscribedOnce = true;
    await this.catchUp();
    this.timer = setInterval(() => this.checkFiles(), this.deps.checkIntervalMs);
    this.timer.unref();
    logger.debug('listening for revocations');
  }

  /**
   * Resolves each connection's identity at the handshake instead of at its first request
   * (the same single lookup, cached on the socket), so that a connection which has not
   * sent anything yet is indexed too and is closed when its certificate is revoked.
   */
  attach(server: TlsServer): void {
    server.on('secureConnection', (socket: TLSSocket) => {
      if (!socket.destroyed) this.deps.identity.resolve(socket).catch(() => undefined); // refusals are answered per request
    });
  }

  stop(): void {
    clearInterval(this.timer);
    this.deps.subscriber.disconnect();
  }

  /** Exposed for tests; the subscriber calls it for every valid message. */
  onAnnouncement(announcement: CrlAnnouncement, source: string): void {
    const crl = this.deps.tls.loadCrl(announcement.crl_pem, source);
    if (!crl) return; // unsigned, foreign or stale: nothing in it can be trusted
    if (crl.crlNumber === announcement.crl_number) this.persist(announcement.crl_pem, crl);
    // Only serials the verified CRL lists count: a replayed message cannot close other clients.
    const listed = new Set(crl.revokedSerials);
    const named = announcement.revoked
      .filter((r) => listed.has(tryNormalizeSerialHex(r.serial) ?? ''))
      .map((r) => r.fingerprint.toLowerCase());
    this.enforce(crl, named, source);
  }

  /**
   * Exposed for tests; the subscriber calls it for every valid status message. Resolves once
   * the status read from the database is in force.
   */
  async onClientStatus(announcement: ClientStatusAnnouncement): Promise<void> {
    const { identity, logger, clientStatusOf, markedDisabled } = this.deps;
    const { client_id: clientId, common_name: client, origin } = announcement;
    identity.forgetClient(clientId);
    let status: 'active' | 'disabled' | undefined;
    try {
      status = await clientStatusOf(clientId);
    } catch (error) {
      logger.warn({ err: describeError(error), client }, 'could not read the status of an announced client');
      // Forgotten already: each of its connections asks again on its next request (MySQL, or
      // the shared cache, whose marker refuses it). The marker also closes them now.
      const marked = markedDisabled ? await markedDisabled(clientId).catch(() => false) : false;
      if (!marked) return;
      status = 'disabled';
    }
    if (status !== 'disabled') {
      logger.info({ client, origin, status: status ?? 'unknown' }, 'client status applied');
      return;
    }
    const sockets = identity.disableClient(clientId);
    for (const socket of sockets) closeSoon(socket);
    logger.warn({ client, origin, closing: sockets.size }, 'client disabled: its connections are closed');
  }

  /** What was published while we were not listening (start, reconnect). */
  private async catchUp(): Promise<void> {
    try {
      const latest = await readLatestCrl(this.deps.redis, this.deps.keyPrefix);
      if (latest) this.onAnnouncement(latest, 'redis key');
    } catch (error) {
      this.deps.logger.warn({ err: (error as Error).message }, 'could not read the last CRL announcement');
    }
  }

  /** The CA on this host (or an operator) changed files under certs/: reload what changed. */
  private checkFiles(): void {
    const { store, tls, logger } = this.deps;
    const { crl, serverCert, serverKey } = store.paths;
    if (this.changed(crl)) {
      try {
        const loaded = tls.loadCrl(store.loadCrl(), 'crl.pem');
        if (loaded) this.enforce(loaded, [], 'crl.pem');
      } catch (error) {
        logger.warn({ err: (error as Error).message }, 'could not reload crl.pem');
      }
    }
    const certChanged = this.changed(serverCert);
    if (this.changed(serverKey) || certChanged) {
      try {
        tls.loadServerCertificate(store.loadServer()); // checks that key and certificate match
      } catch (error) {
        // Probably caught between the key and the certificate being replaced: next round.
        this.stamps.set(serverCert, undefined);
        logger.warn({ err: (error as Error).message }, 'could not reload the server certificate');
      }
    }
  }

  private enforce(crl: ParsedCrl, fingerprints: string[], source: string): void {
    const { identity, logger } = this.deps;
    const targets = new Set([...fingerprints, ...identity.connectedFingerprintsOf(new Set(crl.revokedSerials))]);
    let closing = 0;
    for (const fingerprint of targets) {
      for (const socket of identity.revoke(fingerprint)) {
        closing++;
        closeSoon(socket);
      }
    }
    if (fingerprints.length > 0 || closing > 0)
      logger.warn({ source, crl_number: crl.crlNumber, fingerprints: targets.size, closing }, 'revocation applied');
  }

  /** Keeps certs/crl.pem current on hosts without the CA, so a restart starts from it. */
  private persist(pem: string, crl: ParsedCrl): void {
    const { store, logger } = this.deps;
    try {
      const onDisk = store.hasCrl() ? parseCrl(store.loadCrl()).crlNumber : -1;
      if (onDisk >= crl.crlNumber) return;
      store.saveCrl(pem);
      this.stamps.set(store.paths.crl, stampOf(store.paths.crl));
    } catch (error) {
      logger.warn({ err: (error as Error).message }, 'could not write crl.pem');
    }
  }

  private watchedFiles(): string[] {
    const { crl, serverCert, serverKey } = this.deps.store.paths;
    return [crl, serverCert, serverKey];
  }

  private changed(path: string): boolean {
    const stamp = stampOf(path);
    if (stamp === undefined || stamp === this.stamps.get(path)) return false;
    this.stamps.set(path, stamp);
    return true;
  }
}

/** Files are replaced by rename, so a new inode or mtime means new content. */
function stampOf(path: string): FileStamp {
  try {
    const stat = statSync(path);
    return `${stat.ino}:${stat.mtimeMs}:${stat.size}`;
  } catch {
    return undefined;
  }
}
