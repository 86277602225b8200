/**
 * Who is calling, from the client certificate — resolved once per TLS connection.
 *
 * Reading the peer certificate costs ~16 µs a call (see `peerCertificateOfSocket`), so the
 * resolved identity (or the definitive refusal) is kept on the socket. Lookups by
 * fingerprint are also cached across connections for `identity_cache_ms`:
 *
 *   memory ──miss──▶ MySQL, the authority ──failed or slow──▶ Redis, shared by every broker
 *                    (an accepted answer is                   (src/queue/identity-cache.ts)
 *                     written to Redis too)                   ──miss──▶ 503 STORAGE_UNAVAILABLE
 *
 * Redis is asked only when MySQL fails, never instead of it: a hit there would save one
 * indexed query per client and per `identity_cache_ms` — little — and would stretch the
 * time a status change whose announcement was lost goes unseen from a minute to days.
 *
 * The index of sockets by fingerprint lets a revocation close a client's open keep-alive connections
 * (`revoke`, driven by src/http/revocation-listener.ts), and a disabled client's too
 * (`disableClient`, from the portal, the CLI and other brokers' announcements). A
 * certificate that expires while its connection is open is refused the same way at its
 * `not_after`: checked once per connection, it would otherwise serve keep-alive requests
 * and an event WebSocket for up to `connection_max_lifetime_ms` past its end.
 */
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { BrokerError } from '../errors.js';
import { withTimeout } from '../health/health.service.js';
import { tryNormalizeSerialHex } from '../pki/serial.js';
import { identityFromMemory, identityFromMysql, identityFromRedis, identityUnanswered } from './api.metrics.js';
import type { SharedIdentity } from '../queue/identity-cache.js';

export interface ClientIdentity {
  client_id: number;
  client_name: string;
  domain: string;
  /** `name.domain`, the certificate's CN; what API responses call `client_id`. */
  common_name: string;
  fingerprint: string;
  serial: string;
}

/** What the TLS layer says about the peer; a seam so `inject()` tests can present certificates. */
export interface PeerCertificate {
  present: boolean;
  authorized: boolean;
  authorizationError?: string;
  fingerprint?: string;
  commonName?: string;
  /** False for a CA certificate or one whose extended key usage lacks clientAuth; absent = not checked. */
  usableForClientAuth?: boolean;
}

/** id-kp-clientAuth (RFC 5280 §4.2.1.12). */
const CLIENT_AUTH_OID = '1.3.6.1.5.5.7.3.2';

/** A row as the certificates repository returns it (joined with the client); the shared cache keeps the same. */
export type IdentityRow = SharedIdentity;

export type IdentityLookup = (fingerprint: string) => Promise<IdentityRow | undefined>;

/** The identity cache shared by every broker (src/queue/identity-cache.ts): the fallback while MySQL is away. */
export interface SharedIdentityStore {
  read(fingerprint: string): Promise<IdentityRow | undefined>;
  remember(row: IdentityRow): Promise<void>;
}

/**
 * How long a revoked certificate's or a disabled client's connection lives on: long enough
 * for a request already on the wire to get its 403 instead of a reset, short enough that an
 * idle keep-alive socket is gone within a second.
 */
export const REFUSED_SOCKET_GRACE_MS = 500;

/** Lets a request already on the wire get its 403, then closes the connection. */
export function closeSoon(socket: Socket): void {
  if (socket.destroyed) return;
  setTimeout(() => socket.destroy(), REFUSED_SOCKET_GRACE_MS).unref();
}

/** How long a new connection waits for MySQL before the shared identity cache answers. */
const MYSQL_LOOKUP_BOUND_MS = 2000;

const kIdentity = Symbol('mb.identity');
/**
 * What a connection holds: the lookup (or the refusal), and — once it has succeeded — the
 * identity itself, which a request then reads without a promise (`known()`). Dropping or
 * replacing the entry (invalidate, revoke, forget…) drops both at once.
 */
interface SocketIdentity {
  promise: Promise<ClientIdentity>;
  value?: ClientIdentity;
}
type CachedSocket = Socket & { [kIdentity]?: SocketIdentity };

/** Why an open connection is refused from its next request on. */
export type ConnectionRefusal = 'CERT_REVOKED' | 'CLIENT_DISABLED' | 'CERT_EXPIRED';

/** setTimeout's longest delay: a certificate ending later is checked again then. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** A refusal kept on a socket for its next request (if one ever comes). */
function refusedEntry(code: ConnectionRefusal): SocketIdentity {
  const promise = Promise.reject(new BrokerError(code));
  promise.catch(() => undefined); // read by the next request, if one ever comes
  return { promise };
}

/**
 * What the front needs of the peer's certificate. `getPeerX509Certificate()` rather than
 * `getPeerCertificate()`: the latter converts the whole certificate into a JS object
 * (measured 65 µs a call against 16 µs), once per connection, and a gateway that
 * reconnects for every message pays it for every message.
 */
export function peerCertificateOfSocket(socket: Socket): PeerCertificate {
  const tls = socket as TLSSocket;
  if (typeof tls.getPeerX509Certificate !== 'function') return { present: false, authorized: false };
  const cert = tls.getPeerX509Certificate();
  if (!cert) return { present: false, authorized: false };
  return {
    present: true,
    authorized: tls.authorized,
    authorizationError: tls.authorizationError ? String(tls.authorizationError) : undefined,
    fingerprint: cert.fingerprint256.replaceAll(':', '').toLowerCase(),
    commonName: commonNameOf(cert.subject),
    // OpenSSL's purpose check refuses most such certificates already; this holds even where
    // it would not (no EKU at all, CA:TRUE): the CA only ever issues clientAuth leaves.
    usableForClientAuth: !cert.ca && (cert.keyUsage?.includes(CLIENT_AUTH_OID) ?? false),
  };
}

/**
 * The first CN of an `X509Certificate.subject`: one attribute a line ("O=…\nCN=…"),
 * values escaped the RFC 2253 way by OpenSSL (`\,` `\"`, and `\0A` for a newline, so a
 * value can never fake another line).
 */
export function commonNameOf(subject: string): string | undefined {
  const line = subject.split('\n').find((l) => l.startsWith('CN='));
  return line === undefined ? undefined : unescapeDnValue(line.slice(3));
}

function unescapeDnValue(value: string): string {
  if (!value.includes('\\')) return value;
  // Runs of hex pairs are UTF-8 bytes (`\C3\A9` is é); any other escaped character is itself.
  return value.replace(
    /((?:\\[0-9A-Fa-f]{2})+)|\\(.)/gsu,
    (_match, hexRun: string | undefined, char: string | undefined) =>
      hexRun ? Buffer.from(hexRun.replaceAll('\\', ''), 'hex').toString('utf8') : char!,
  );
}

export class IdentityResolver {
  private readonly cache = new Map<string, { row: IdentityRow | undefined; until: number }>();
  private readonly socketsByFingerprint = new Map<string, Set<Socket>>();
  private readonly serialByFingerprint = new Map<string, string>();
  private readonly clientByFingerprint = new Map<string, number>();
  /** Connections whose refusal was decided here (revoked, disabled): they are on their way out. */
  private readonly refusedSockets = new WeakSet<Socket>();
  /** An upgraded connection (event WebSocket) says why it closes before the socket goes. */
  private readonly refusalListeners = new WeakMap<Socket, (code: ConnectionRefusal) => void>();
  /**
   * Bumped whenever a client's status may have changed: a lookup that was in flight across
   * it may have read the old row, so its answer is not cached (see `lookupCached`).
   */
  private statusEpoch = 0;

  constructor(
    private readonly lookup: IdentityLookup,
    private readonly cacheMs: number,
    private readonly peerCertificateOf: (socket: Socket) => PeerCertificate = peerCertificateOfSocket,
    /** Absent: a MySQL outage refuses new connections once their identity leaves the memory cache. */
    private readonly shared?: SharedIdentityStore,
  ) {}

  /** The identity behind a connection; throws a BrokerError naming why it is refused. */
  resolve(socket: Socket): Promise<ClientIdentity> {
    const cached = (socket as CachedSocket)[kIdentity];
    if (cached) return cached.promise;
    const entry: SocketIdentity = { promise: this.resolveUncached(socket) };
    (socket as CachedSocket)[kIdentity] = entry;
    entry.promise.then(
      (identity) => {
        entry.value = identity;
      },
      (error: unknown) => {
        // A database outage is not the client's fault: try again on its next request.
        if (
          error instanceof BrokerError &&
          error.code === 'STORAGE_UNAVAILABLE' &&
          (socket as CachedSocket)[kIdentity] === entry
        )
          delete (socket as CachedSocket)[kIdentity];
      },
    );
    return entry.promise;
  }

  /**
   * The connection's identity when its lookup has already succeeded and still stands (not
   * invalidated, revoked or forgotten since), else undefined: then `resolve()` answers.
   * Every request after a connection's first reads it here, without a promise.
   */
  known(socket: Socket): ClientIdentity | undefined {
    return (socket as CachedSocket)[kIdentity]?.value;
  }

  /**
   * Calls `listener` when this connection is refused (certificate revoked or expired, client disabled),
   * before it is closed: a WebSocket on it can send its close code first. One per socket.
   */
  onRefusal(socket: Socket, listener: (code: ConnectionRefusal) => void): () => void {
    this.refusalListeners.set(socket, listener);
    return () => {
      if (this.refusalListeners.get(socket) === listener) this.refusalListeners.delete(socket);
    };
  }

  /** Drops cached lookups of a fingerprint and returns its open sockets (to be closed). */
  invalidate(fingerprint: string): Set<Socket> {
    this.cache.delete(fingerprint);
    const sockets = this.socketsByFingerprint.get(fingerprint) ?? new Set<Socket>();
    for (const socket of sockets) delete (socket as CachedSocket)[kIdentity];
    return sockets;
  }

  /**
   * The certificate is revoked: its open connections refuse their next request with
   * CERT_REVOKED instead of asking the database again. Returns them (to be closed).
   */
  revoke(fingerprint: string): Set<Socket> {
    this.cache.delete(fingerprint);
    const sockets = this.socketsByFingerprint.get(fingerprint) ?? new Set<Socket>();
    for (const socket of sockets) {
      (socket as CachedSocket)[kIdentity] = refusedEntry('CERT_REVOKED');
      this.refusedSockets.add(socket);
      this.refusalListeners.get(socket)?.('CERT_REVOKED');
    }
    return sockets;
  }

  /**
   * The client's status may have changed: drop every cached lookup of its certificates and
   * the identities held by its connections, so that their next request asks the database.
   */
  forgetClient(clientId: number): void {
    this.statusEpoch++;
    for (const [fingerprint, entry] of this.cache)
      if (entry.row?.client_id === clientId) this.cache.delete(fingerprint);
    for (const socket of this.socketsOfClient(clientId)) delete (socket as CachedSocket)[kIdentity];
  }

  /**
   * The client is disabled: its open connections refuse their next request with
   * CLIENT_DISABLED instead of asking the database again. Returns them (to be closed).
   */
  disableClient(clientId: number): Set<Socket> {
    this.forgetClient(clientId);
    const sockets = this.socketsOfClient(clientId);
    for (const socket of sockets) {
      (socket as CachedSocket)[kIdentity] = refusedEntry('CLIENT_DISABLED');
      this.refusedSockets.add(socket);
      this.refusalListeners.get(socket)?.('CLIENT_DISABLED');
    }
    return sockets;
  }

  /** Something may have been missed (the announcements' connection was down): forget every identity. */
  forgetAll(): void {
    this.statusEpoch++;
    this.cache.clear();
    for (const set of this.socketsByFingerprint.values())
      for (const socket of set) {
        // A refusal already decided (revoked, disabled) stands: that socket is being closed.
        if (!this.refusedSockets.has(socket)) delete (socket as CachedSocket)[kIdentity];
      }
  }

  /** Fingerprints of open connections whose certificate has one of these serials (CRL catch-up). */
  connectedFingerprintsOf(serials: ReadonlySet<string>): string[] {
    const found: string[] = [];
    for (const [fingerprint, serial] of this.serialByFingerprint) if (serials.has(serial)) found.push(fingerprint);
    return found;
  }

  openConnections(): number {
    let n = 0;
    for (const set of this.socketsByFingerprint.values()) n += set.size;
    return n;
  }

  private async resolveUncached(socket: Socket): Promise<ClientIdentity> {
    const peer = this.peerCertificateOf(socket);
    if (!peer.present || !peer.fingerprint) throw new BrokerError('UNAUTHORIZED');
    if (!peer.authorized) throw refusalFromTls(peer.authorizationError);
    if (peer.usableForClientAuth === false)
      throw new BrokerError('CERT_UNTRUSTED', 'The certificate is not made for client authentication');
    const fingerprint = peer.fingerprint;
    const row = await this.lookupCached(fingerprint);
    if (!row) throw new BrokerError('CERT_UNKNOWN');
    if (row.cert_status === 'revoked') throw new BrokerError('CERT_REVOKED');
    const now = Date.now();
    if (row.cert_status === 'expired' || row.not_after.getTime() <= now || row.not_before.getTime() > now) {
      throw new BrokerError('CERT_EXPIRED');
    }
    if (row.client_status !== 'active') throw new BrokerError('CLIENT_DISABLED');
    const commonName = `${row.client_name}.${row.domain}`;
    // The registry row is the authority; a CN that disagrees means a mis-registered certificate.
    if (peer.commonName !== undefined && peer.commonName !== commonName)
      throw new BrokerError('CERT_UNKNOWN', 'The certificate subject does not match its registration');
    this.track(fingerprint, row.serial, row.client_id, socket);
    this.expireAt(socket, row.not_after.getTime());
    return {
      client_id: row.client_id,
      client_name: row.client_name,
      domain: row.domain,
      common_name: commonName,
      fingerprint,
      serial: row.serial,
    };
  }

  private async lookupCached(fingerprint: string): Promise<IdentityRow | undefined> {
    const now = Date.now();
    const hit = this.cache.get(fingerprint);
    if (hit && hit.until > now) {
      identityFromMemory.inc();
      return hit.row;
    }
    let answer: { row: IdentityRow | undefined; from: 'mysql' | 'redis' };
    // A status change announced while the query ran may not be in what it read: ask again
    // (a few times at most; a client toggled without pause gets the last answer).
    for (let attempt = 0; ; attempt++) {
      const epoch = this.statusEpoch;
      answer = await this.lookupFresh(fingerprint);
      if (epoch === this.statusEpoch) break;
      if (attempt === 2) return answer.row; // neither cached nor shared: it may be stale
    }
    const { row, from } = answer;
    (from === 'mysql' ? identityFromMysql : identityFromRedis).inc();
    // Shared only what MySQL itself answered, and only an accepted identity (remember() checks).
    if (from === 'mysql' && row) this.shared?.remember(row).catch(() => undefined); // best effort: Redis may be away too
    // Unknown certificates are cached briefly too, so a stranger cannot hammer the database.
    this.cache.set(fingerprint, { row, until: now + (row ? this.cacheMs : Math.min(this.cacheMs, 5000)) });
    if (this.cache.size > 50_000) this.cache.delete(this.cache.keys().next().value!);
    return row;
  }

  /** MySQL, or — only when MySQL fails — the identity cache every broker shares in Redis. */
  private async lookupFresh(fingerprint: string): Promise<{ row: IdentityRow | undefined; from: 'mysql' | 'redis' }> {
    try {
      // With a fallback, a MySQL that hangs (no RST: connect timeout 10 s) must not hold
      // every new connection: past the bound, it counts as failed.
      const query = this.lookup(fingerprint);
      const row = await (this.shared ? withTimeout(query, MYSQL_LOOKUP_BOUND_MS) : query);
      return { row, from: 'mysql' };
    } catch {
      // Neither the driver's nor Redis' error text in the answer: it may carry query parameters.
      const row = this.shared ? await this.shared.read(fingerprint).catch(() => undefined) : undefined;
      if (row) return { row, from: 'redis' };
      identityUnanswered.inc();
      throw new BrokerError('STORAGE_UNAVAILABLE', 'The client registry could not be read');
    }
  }

  /**
   * Refuses the connection from the moment its certificate ends: its next request gets
   * CERT_EXPIRED (and `connection: close`), an event WebSocket on it its close code, and
   * the socket goes after the grace a request on the wire needs.
   */
  private expireAt(socket: Socket, atMs: number): void {
    if (socket.destroyed) return;
    const inMs = atMs - Date.now();
    const timer = setTimeout(
      () => {
        if (socket.destroyed || this.refusedSockets.has(socket)) return;
        if (inMs > MAX_TIMER_MS) return this.expireAt(socket, atMs); // a connection kept for weeks
        (socket as CachedSocket)[kIdentity] = refusedEntry('CERT_EXPIRED');
        this.refusedSockets.add(socket);
        this.refusalListeners.get(socket)?.('CERT_EXPIRED');
        closeSoon(socket);
      },
      Math.min(Math.max(inMs, 0), MAX_TIMER_MS),
    );
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
  }

  private socketsOfClient(clientId: number): Set<Socket> {
    const sockets = new Set<Socket>();
    for (const [fingerprint, owner] of this.clientByFingerprint)
      if (owner === clientId)
        for (const socket of this.socketsByFingerprint.get(fingerprint) ?? []) sockets.add(socket);
    return sockets;
  }

  private track(fingerprint: string, serial: string, clientId: number, socket: Socket): void {
    // Closed while the lookup ran: 'close' has fired already and would never untrack it.
    if (socket.destroyed) return;
    let set = this.socketsByFingerprint.get(fingerprint);
    if (!set) this.socketsByFingerprint.set(fingerprint, (set = new Set()));
    // The CRL's serials are normalised (serial.ts); a spelling difference must not hide a revoked client.
    this.serialByFingerprint.set(fingerprint, tryNormalizeSerialHex(serial) ?? serial.toLowerCase());
    this.clientByFingerprint.set(fingerprint, clientId);
    if (set.has(socket)) return;
    set.add(socket);
    socket.once('close', () => {
      set.delete(socket);
      if (set.size === 0) {
        this.socketsByFingerprint.delete(fingerprint);
        this.serialByFingerprint.delete(fingerprint);
        this.clientByFingerprint.delete(fingerprint);
      }
    });
  }
}

export function refusalFromTls(reason: string | undefined): BrokerError {
  switch (reason) {
    case 'CERT_HAS_EXPIRED':
    case 'CERT_NOT_YET_VALID':
      return new BrokerError('CERT_EXPIRED');
    case 'CERT_REVOKED':
      return new BrokerError('CERT_REVOKED');
    // Our CRL cannot be used (past nextUpdate, or not yet valid on this clock): the broker's
    // fault, so not a 401 that tells the client its certificate is bad. (Not UNABLE_TO_GET_CRL:
    // OpenSSL reports that last for a certificate of another CA, which has no CRL here.)
    case 'CRL_HAS_EXPIRED':
    case 'CRL_NOT_YET_VALID':
      return new BrokerError('CRL_UNAVAILABLE', undefined, { tls_error: reason });
    // Issued by our CA, but for another purpose (the server's own certificate, say).
    case 'INVALID_PURPOSE':
      return new BrokerError('CERT_UNTRUSTED', 'The certificate is not made for client authentication', {
        tls_error: reason,
      });
    default:
      return new BrokerError('CERT_UNTRUSTED', undefined, reason ? { tls_error: reason } : undefined);
  }
}
