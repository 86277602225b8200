/**
 * The client identity cache every broker shares, in Redis: what a client certificate
 * resolved to (client, domain, validity) the last time MySQL said it was accepted, so that
 * a NEW connection is still accepted while MySQL is away (docs/reliability.md).
 *
 *   MySQL answered "active" ─┐
 *   CA issue / renew ────────┴─SET identity:cert:<fp> PX ttl──▶ Redis ◀──GET── any broker whose
 *                                                                           MySQL lookup failed
 *   revocation ─MULTI { SET pki:crl, DEL identity:cert:<fp>…, PUBLISH }  (revocation-events.ts)
 *   disable ────MULTI { SET identity:client:<id>:disabled, PUBLISH }     (client-status-events.ts)
 *   enable ─────MULTI { DEL identity:client:<id>:disabled, PUBLISH }
 *
 * Only an accepted identity is ever written (active certificate, active client): the cache
 * can widen nothing. It is a fallback, never the authority: the front asks MySQL first.
 *
 * Why a marker for a disabled client instead of deleting its entries: a broker that read
 * "active" from MySQL just before the disable may write the entry back just after it; the
 * marker outlives that race (only an enable deletes it). A revoked certificate written back
 * the same way is refused all the same: the TLS handshake checks it against the CRL.
 */
import type { ChainableCommander, Redis } from 'ioredis';
import { clientDisabledKey, identityKey } from './keys.js';

/** An identity as the front checks it: a certificate joined with its client (src/http/client-identity.ts). */
export interface SharedIdentity {
  serial: string;
  fingerprint: string;
  cert_status: 'active' | 'revoked' | 'expired';
  not_before: Date;
  not_after: Date;
  client_id: number;
  client_name: string;
  domain: string;
  client_status: 'active' | 'disabled';
}

/** What is stored under the key: the identity of an accepted certificate, dates as epoch ms. */
interface StoredIdentity {
  v: 1;
  serial: string;
  fingerprint: string;
  not_before: number;
  not_after: number;
  client_id: number;
  client_name: string;
  domain: string;
}

export class SharedIdentityCache {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    /** Upper bound of an entry's life (`server.identity_shared_cache_ms`); never past the certificate's expiry. */
    private readonly ttlMs: number,
  ) {}

  /**
   * The identity last accepted for this certificate, with its client's status as the
   * disable marker says; undefined when none is cached (never seen, expired, revoked).
   * Throws when Redis does not answer.
   */
  async read(fingerprint: string): Promise<SharedIdentity | undefined> {
    const json = await this.redis.get(identityKey(this.prefix, fingerprint));
    const stored = json === null ? undefined : parseStoredIdentity(json, fingerprint);
    if (!stored) return undefined;
    const disabled = (await this.redis.exists(clientDisabledKey(this.prefix, stored.client_id))) === 1;
    return {
      serial: stored.serial,
      fingerprint: stored.fingerprint,
      cert_status: 'active',
      not_before: new Date(stored.not_before),
      not_after: new Date(stored.not_after),
      client_id: stored.client_id,
      client_name: stored.client_name,
      domain: stored.domain,
      client_status: disabled ? 'disabled' : 'active',
    };
  }

  /** Keeps an accepted identity; anything else (revoked, expired, disabled) is not written. */
  async remember(identity: SharedIdentity): Promise<void> {
    if (identity.cert_status !== 'active' || identity.client_status !== 'active') return;
    const ttl = Math.min(this.ttlMs, identity.not_after.getTime() - Date.now());
    if (ttl <= 0) return;
    const stored: StoredIdentity = {
      v: 1,
      serial: identity.serial,
      fingerprint: identity.fingerprint.toLowerCase(),
      not_before: identity.not_before.getTime(),
      not_after: identity.not_after.getTime(),
      client_id: identity.client_id,
      client_name: identity.client_name,
      domain: identity.domain,
    };
    await this.redis.set(identityKey(this.prefix, identity.fingerprint), JSON.stringify(stored), 'PX', ttl);
  }

  /** Whether the client is marked disabled (the announcer sets the marker with its message). */
  async isMarkedDisabled(clientId: number): Promise<boolean> {
    return (await this.redis.exists(clientDisabledKey(this.prefix, clientId))) === 1;
  }
}

/**
 * Queues, in the announcement's transaction, the marker of a client's status: set while
 * disabled (no expiry: an entry written back by a racing broker must stay masked), deleted
 * at enable.
 */
export function queueClientStatusMark(
  multi: ChainableCommander,
  prefix: string,
  clientId: number,
  status: 'active' | 'disabled',
): ChainableCommander {
  const key = clientDisabledKey(prefix, clientId);
  return status === 'disabled' ? multi.set(key, '1') : multi.del(key);
}

/** Queues, in the revocation's transaction, the removal of the revoked certificates' entries. */
export function queueForgetIdentities(
  multi: ChainableCommander,
  prefix: string,
  fingerprints: readonly string[],
): ChainableCommander {
  return fingerprints.length === 0 ? multi : multi.del(...fingerprints.map((fp) => identityKey(prefix, fp)));
}

/** Anything that does not have the expected shape, or is filed under another fingerprint, is ignored. */
function parseStoredIdentity(json: string, fingerprint: string): StoredIdentity | undefined {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return undefined;
  }
  const s = value as Partial<StoredIdentity> | null;
  if (s?.v !== 1 || s.fingerprint !== fingerprint.toLowerCase()) return undefined;
  if (typeof s.serial !== 'string' || typeof s.client_name !== 'string' || typeof s.domain !== 'string')
    return undefined;
  if (!Number.isSafeInteger(s.client_id) || !Number.isFinite(s.not_before) || !Number.isFinite(s.not_after))
    return undefined;
  return s as StoredIdentity;
}
