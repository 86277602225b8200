/**
 * The CRL: rebuilt from the `certificates` table, signed, written to certs/crl.pem and
 * announced to every broker (see src/queue/revocation-events.ts).
 *
 * Two writers exist — the CA actor and the `mb` CLI — so a rebuild holds a database
 * named lock from reading the revocations to writing the file: whoever read last writes
 * last, and a CRL never loses a revocation to a concurrent re-sign. CRL numbers only grow
 * (previous + 1, at least the Unix time), so receivers can drop an older CRL that
 * arrives late.
 */
import { hostname } from 'node:os';
import type { AuditRepository } from '../db/audit.repository.js';
import type { CertificatesRepository } from '../db/certificates.repository.js';
import type { Database } from '../db/database.js';
import { withNamedLock } from '../db/named-lock.js';
import type { Logger } from '../logger.js';
import { BACKDATE_MS } from '../pki/certificate-fields.js';
import type { CertStore } from '../pki/cert-store.js';
import { buildCrl, crlNeedsRefresh, parseCrl } from '../pki/crl.js';
import { isRevocationReason, type RevocationReason } from '../pki/pki.types.js';
import type { CrlAnnouncement } from '../queue/revocation-events.js';
import type { CrlInfo } from './ca.types.js';

const DAY_MS = 86_400_000;
const LOCK_NAME = 'mb_crl';
const LOCK_TIMEOUT_SECONDS = 30;

export type Announce = (announcement: CrlAnnouncement) => Promise<void>;

export interface CrlManagerDeps {
  store: CertStore;
  db: Database;
  certificates: CertificatesRepository;
  audit: AuditRepository;
  logger: Logger;
  crlDays: number;
  /** Publishes to the other brokers; absent when there is no Redis to tell. */
  announce?: Announce | undefined;
  /** Who signs: `ca@<instance>` or `cli@<host>`. */
  origin?: string | undefined;
}

export interface RebuildOptions {
  actor: string;
  kind: CrlAnnouncement['kind'];
  revoked?: CrlAnnouncement['revoked'];
  /** A scheduled or manual re-sign gets its own audit row; a revocation's row already names the CRL. */
  audit?: boolean;
}

export interface RebuildResult {
  info: CrlInfo;
  pem: string;
  /** false when the other brokers could not be told (Redis down); retried by `announcePending`. */
  announced: boolean;
}

export class CrlManager {
  private unannounced: CrlAnnouncement | undefined;

  constructor(private readonly deps: CrlManagerDeps) {}

  async rebuild(options: RebuildOptions): Promise<RebuildResult> {
    const { store, certificates, logger } = this.deps;
    const pem = await withNamedLock(this.deps.db, LOCK_NAME, LOCK_TIMEOUT_SECONDS, async () => {
      const revoked = await certificates.listRevoked();
      const now = Date.now();
      const number = Math.max(this.currentNumber() + 1, Math.floor(now / 1000));
      const signed = buildCrl(store.loadCa(), {
        revoked: revoked.map((r) => ({
          serialHex: r.serial,
          revokedAt: r.revoked_at ?? new Date(now),
          reason: reasonOf(r.reason),
        })),
        // Backdated like certificates: a broker whose clock is behind would otherwise see a
        // CRL "not yet valid" and refuse every handshake until its clock catches up.
        thisUpdate: new Date(now - BACKDATE_MS),
        nextUpdate: new Date(now + this.deps.crlDays * DAY_MS),
        crlNumber: number,
      });
      store.saveCrl(signed);
      return signed;
    });
    const info = crlInfoOf(pem);
    if (options.audit) {
      await this.deps.audit.record({
        actor: options.actor,
        action: 'crl.sign',
        target_type: 'crl',
        target_id: String(info.crl_number),
        details: { next_update: info.next_update, revoked_count: info.revoked_serials.length },
      });
    }
    logger.info(
      { crl_number: info.crl_number, next_update: info.next_update, revoked: info.revoked_serials.length },
      'CRL signed',
    );
    const announced = await this.announce({
      v: 1,
      kind: options.kind,
      revoked: options.revoked ?? [],
      crl_pem: pem,
      crl_number: info.crl_number,
      origin: this.deps.origin ?? `cli@${hostname()}`,
      at: new Date().toISOString(),
    });
    return { info, pem, announced };
  }

  /**
   * True when there is no usable CRL or it is past half its life. OpenSSL refuses every
   * handshake once nextUpdate has passed, so the re-sign happens days before it.
   */
  needsRefresh(now = Date.now()): boolean {
    const { store } = this.deps;
    try {
      return crlNeedsRefresh(store.hasCrl() ? store.loadCrl() : undefined, store.loadCaCertificate(), now);
    } catch {
      return true;
    }
  }

  current(): { info: CrlInfo; pem: string } {
    const pem = this.deps.store.loadCrl();
    return { info: crlInfoOf(pem), pem };
  }

  /** Whether an announcement failed and waits for `announcePending` (the CA actor must not be parked then). */
  hasPendingAnnouncement(): boolean {
    return this.unannounced !== undefined;
  }

  /** Re-sends an announcement that failed (Redis was down); true when nothing is pending any more. */
  async announcePending(): Promise<boolean> {
    const pending = this.unannounced;
    if (!pending) return true;
    this.unannounced = undefined;
    return this.announce(pending);
  }

  private async announce(announcement: CrlAnnouncement): Promise<boolean> {
    if (!this.deps.announce) return false;
    // An undelivered revocation rides along with the next announcement: a later re-sign
    // must not drop the fingerprints whose open connections still have to be closed.
    const revoked = [...(this.unannounced?.revoked ?? []), ...announcement.revoked];
    const merged: CrlAnnouncement = {
      ...announcement,
      kind: revoked.length > 0 ? 'revoked' : announcement.kind,
      revoked,
    };
    try {
      await this.deps.announce(merged);
      this.unannounced = undefined;
      return true;
    } catch (error) {
      this.unannounced = merged;
      this.deps.logger.error(
        { err: error, crl_number: merged.crl_number },
        'could not announce the CRL to the other brokers; will retry',
      );
      return false;
    }
  }

  private currentNumber(): number {
    try {
      return this.deps.store.hasCrl() ? parseCrl(this.deps.store.loadCrl()).crlNumber : 0;
    } catch {
      return 0;
    }
  }
}

export function crlInfoOf(pem: string): CrlInfo {
  const parsed = parseCrl(pem);
  return {
    crl_number: parsed.crlNumber,
    this_update: parsed.thisUpdate.toISOString(),
    next_update: parsed.nextUpdate.toISOString(),
    revoked_serials: parsed.revokedSerials,
  };
}

function reasonOf(reason: string | null): RevocationReason | undefined {
  return isRevocationReason(reason) ? reason : undefined;
}
