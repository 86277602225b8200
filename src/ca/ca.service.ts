/**
 * The certificate authority's operations — issue, renew, revoke, list, CRL, verify — over
 * the CA files (CertStore), the database and the revocation announcer.
 *
 * Two hosts run it: the CA actor (for the supervisor and the admin API) and the `mb`
 * CLI, which signs offline with the same files and database. Nothing else loads the CA
 * key. Every operation that changes something writes an `audit_log` row; reads do not.
 */
import { readFileSync } from 'node:fs';
import { AuditRepository } from '../db/audit.repository.js';
import { CertificatesRepository, type CertificateWithClient } from '../db/certificates.repository.js';
import { ClientsRepository } from '../db/clients.repository.js';
import { isDuplicateKeyError, toStorageError, type Database } from '../db/database.js';
import type { BrokerConfig } from '../config/config.js';
import { BrokerError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { CertStore } from '../pki/cert-store.js';
import { isRevocationReason, REVOCATION_REASONS, type RevocationReason } from '../pki/pki.types.js';
import { issueClientCertificate } from '../pki/issue.js';
import { normalizeSerialHex } from '../pki/serial.js';
import { verifyCertificate } from '../pki/verify.js';
import type { CertificateVerdict } from '../pki/verify.js';
import type { CaMaterial, IssuedCertificate } from '../pki/pki.types.js';
import type { CertificateRow } from '../db/schema.js';
import type { SharedIdentity } from '../queue/identity-cache.js';
import type {
  CertificateSummary,
  CrlInfo,
  IssuedBundle,
  IssueRequest,
  RenewedBundle,
  RevokeRequest,
  RevokeResult,
} from './ca.types.js';
import { assertClientName, CLIENT_NAME, CLIENT_NAME_RULE } from './client-name.js';
import { CrlManager, type Announce, type RebuildResult } from './crl-manager.js';

const DAY_MS = 86_400_000;
/** Certificates that expire sooner than this are flagged (list, health, metric). */
export const EXPIRY_WARNING_DAYS = 30;

type IssueOrder = IssueRequest & { notBefore?: Date; notAfter?: Date };
type RevokedTarget = { serial: string; fingerprint: string; domain: string; client: string };
export type RevokeOutcome = RevokeResult & { announced: boolean };

export interface CertificateAuthorityDeps {
  config: Readonly<BrokerConfig>;
  store: CertStore;
  db: Database;
  logger: Logger;
  announce?: Announce | undefined;
  origin?: string | undefined;
  /**
   * Puts a new certificate's identity into the identity cache every broker shares
   * (src/queue/identity-cache.ts), so that it is accepted even if MySQL goes away before
   * its first connection. Best effort: absent or failing, its first MySQL lookup does it.
   */
  shareIdentity?: ((identity: SharedIdentity) => Promise<void>) | undefined;
}

export interface VerifyReport {
  verdict: CertificateVerdict;
  /** The certificate's row, or null when it is not registered (or the database could not be asked). */
  registration: { status: CertificateSummary['status']; client: string; domain: string } | null;
  problems: string[];
}

export class CertificateAuthority {
  readonly crl: CrlManager;
  readonly clients: ClientsRepository;
  readonly certificates: CertificatesRepository;
  readonly audit: AuditRepository;

  constructor(private readonly deps: CertificateAuthorityDeps) {
    this.clients = new ClientsRepository(deps.db);
    this.certificates = new CertificatesRepository(deps.db);
    this.audit = new AuditRepository(deps.db);
    this.crl = new CrlManager({
      store: deps.store,
      db: deps.db,
      certificates: this.certificates,
      audit: this.audit,
      logger: deps.logger,
      crlDays: deps.config.pki.crl_days,
      announce: deps.announce,
      origin: deps.origin,
    });
  }

  /** The CA material; only loaded when something must be signed. */
  loadCa(): CaMaterial {
    if (!this.deps.store.hasCa())
      throw new BrokerError(
        'CA_NOT_INITIALIZED',
        `No CA in ${this.deps.store.dir}; run \`mb ca init\` (or start the broker once)`,
      );
    return this.deps.store.loadCa();
  }

  /** A new client `name.domain` and its first certificate; an existing name is refused (renew it). */
  async issue(request: IssueOrder): Promise<IssuedBundle> {
    const { name, domain } = this.checkClient(request.name, request.domain, request.scoped);
    if (await this.clients.findByNameAndDomain(name, domain)) {
      throw new BrokerError('CLIENT_EXISTS', `Client ${name}.${domain} already exists; renew its certificate instead`);
    }
    const ca = this.loadCa();
    const issued = this.sign(ca, name, domain, request);
    // Client row and certificate row together: a failure leaves no client without a certificate.
    const clientId = await this.deps.db
      .transaction(async (tx) => {
        const txDb = tx as unknown as Database;
        const id = await new ClientsRepository(txDb).create({ name, domain });
        await new CertificatesRepository(txDb).insert(certificateRow(issued, id));
        return id;
      })
      .catch((error: unknown) => {
        if (isDuplicateKeyError(error))
          throw new BrokerError(
            'CLIENT_EXISTS',
            `Client ${name}.${domain} already exists; renew its certificate instead`,
          );
        throw toStorageError(error);
      });
    await this.record(request, 'certificate.issue', issued.serialHex, domain, {
      client: name,
      not_after: issued.notAfter.toISOString(),
    });
    this.deps.logger.info({ serial: issued.serialHex, client: name, domain }, 'client certificate issued');
    await this.share(issued, { id: clientId, name, domain, status: 'active' });
    return bundleOf(issued, ca);
  }

  /**
   * A new key and certificate for an existing client. The newest certificate before it
   * stays valid beside it (the overlap: until it expires or is revoked) so the client can
   * switch over; every older active one is revoked as `superseded`, announced like any
   * revocation. Without that, each renewal left one more key working for a year — the
   * one on a lost device too.
   */
  async renew(request: IssueOrder): Promise<RenewedBundle> {
    const { name, domain } = this.checkClient(request.name, request.domain, request.scoped);
    const client = await this.clients.findByNameAndDomain(name, domain);
    if (!client) throw new BrokerError('CLIENT_NOT_FOUND', `No client ${name}.${domain}; issue one first`);
    const ca = this.loadCa();
    const issued = this.sign(ca, name, domain, request);
    // The new certificate and the revocations it brings commit together. The client's row
    // is locked first: two renewals at once (CLI and portal) would otherwise both keep the
    // same predecessor and leave three certificates active.
    const { overlaps, superseded } = await this.deps.db
      .transaction(async (tx) => {
        const txDb = tx as unknown as Database;
        await new ClientsRepository(txDb).lockForUpdate(client.id);
        const certificates = new CertificatesRepository(txDb);
        const id = await certificates.insert(certificateRow(issued, client.id));
        const [kept, ...older] = predecessors(await certificates.listActiveForClient(client.id), id, Date.now());
        const at = new Date();
        const revoked: RevokedTarget[] = [];
        for (const row of older) {
          const done = await certificates.revoke(row.serial, 'superseded', at);
          if (done) revoked.push({ serial: done.serial, fingerprint: done.fingerprint, domain, client: name });
        }
        return { overlaps: kept, superseded: revoked };
      })
      .catch((error: unknown) => Promise.reject(toStorageError(error)));
    await this.record(request, 'certificate.renew', issued.serialHex, domain, {
      client: name,
      not_after: issued.notAfter.toISOString(),
      overlaps: overlaps ? [overlaps.serial] : [],
      superseded: superseded.map((c) => c.serial),
    });
    this.deps.logger.info(
      { serial: issued.serialHex, client: name, domain, overlaps: overlaps?.serial, superseded: superseded.length },
      'client certificate renewed',
    );
    await this.share(issued, client);
    const published = await this.publishSuperseded(request, superseded, issued.serialHex);
    return {
      ...bundleOf(issued, ca),
      overlaps: overlaps ? { serial: overlaps.serial, not_after: overlaps.not_after.toISOString() } : null,
      superseded: superseded.map(({ serial, fingerprint }) => ({ serial, fingerprint })),
      ...published,
    };
  }

  /**
   * The revocations of a renewal go out as any revocation does. A failure here must not
   * fail the renewal: the new key would be lost while its certificate stands, and a retry
   * would keep that orphan and supersede the certificate the client really uses.
   */
  private async publishSuperseded(
    request: { actor: string; ip?: string | undefined },
    superseded: RevokedTarget[],
    by: string,
  ): Promise<{ crl_number: number | null; announced: boolean }> {
    if (superseded.length === 0) return { crl_number: null, announced: true };
    try {
      const crl = await this.publishRevocations(request, 'superseded', superseded, { superseded_by: by });
      return { crl_number: crl.info.crl_number, announced: crl.announced };
    } catch (error) {
      this.deps.logger.error(
        { err: (error as Error).message, serials: superseded.map((c) => c.serial) },
        'renewal: superseded certificates revoked in the registry, but not published; run `mb crl rebuild`',
      );
      return { crl_number: null, announced: false };
    }
  }

  private async share(
    issued: IssuedCertificate,
    client: { id: number; name: string; domain: string; status: 'active' | 'disabled' },
  ): Promise<void> {
    try {
      await this.deps.shareIdentity?.({
        serial: normalizeSerialHex(issued.serialHex),
        fingerprint: issued.fingerprint256.toLowerCase(),
        cert_status: 'active',
        not_before: issued.notBefore,
        not_after: issued.notAfter,
        client_id: client.id,
        client_name: client.name,
        domain: client.domain,
        client_status: client.status,
      });
    } catch (error) {
      this.deps.logger.warn(
        { err: (error as Error).message, serial: issued.serialHex },
        'could not share the new identity in Redis: it is shared at its first lookup',
      );
    }
  }

  /** Revokes one serial or every active certificate of a client, then re-signs and announces the CRL. */
  async revoke(request: RevokeRequest): Promise<RevokeOutcome> {
    if (!isRevocationReason(request.reason)) {
      throw new BrokerError(
        'INVALID_PAYLOAD',
        `Unknown revocation reason "${request.reason}"; one of ${REVOCATION_REASONS.join(', ')}`,
      );
    }
    const targets = await this.revocationTargets(request);
    const at = new Date();
    const revoked: RevokedTarget[] = [];
    for (const target of targets) {
      const row = await this.certificates.revoke(target.serial, request.reason, at);
      if (!row) continue; // revoked by someone else in the meantime: their row and CRL stand
      revoked.push({
        serial: row.serial,
        fingerprint: row.fingerprint,
        domain: target.domain,
        client: target.client_name,
      });
    }
    if (revoked.length === 0) throw new BrokerError('CERT_ALREADY_REVOKED');
    const crl = await this.publishRevocations(request, request.reason, revoked);
    return {
      revoked: revoked.map(({ serial, fingerprint }) => ({ serial, fingerprint })),
      crl: crl.info,
      announced: crl.announced,
    };
  }

  /**
   * Audits revocations that stand in the registry, then re-signs the CRL and announces
   * them: every running broker drops the certificates' open connections.
   */
  private async publishRevocations(
    request: { actor: string; ip?: string | undefined },
    reason: RevocationReason,
    revoked: RevokedTarget[],
    details: Record<string, unknown> = {},
  ): Promise<RebuildResult> {
    // Audited before the re-sign: the revocation stands in the registry even if signing fails.
    for (const r of revoked)
      await this.record(request, 'certificate.revoke', r.serial, r.domain, { client: r.client, reason, ...details });
    const crl = await this.crl
      .rebuild({
        actor: request.actor,
        kind: 'revoked',
        revoked: revoked.map(({ serial, fingerprint }) => ({ serial, fingerprint })),
      })
      .catch((error: unknown) => {
        const problem = error instanceof Error ? error.message : String(error);
        throw new BrokerError(
          'CA_FAILURE',
          `Revoked in the registry, but the CRL could not be re-signed (${problem}); run \`mb crl rebuild\``,
        );
      });
    this.deps.logger.warn(
      { serials: revoked.map((r) => r.serial), reason, announced: crl.announced },
      'certificates revoked',
    );
    return crl;
  }

  async list(request: { domain?: string }): Promise<CertificateSummary[]> {
    const rows = await this.certificates.list(request.domain === undefined ? {} : { domain: request.domain });
    const now = Date.now();
    return rows.map((row) => summarize(row, now));
  }

  currentCrl(): CrlInfo & { pem: string } {
    if (!this.deps.store.hasCrl()) throw new BrokerError('CA_NOT_INITIALIZED', `No CRL in ${this.deps.store.dir} yet`);
    const { info, pem } = this.crl.current();
    return { ...info, pem };
  }

  /** Chain, validity window, CRL and registration — what a handshake plus the identity lookup would decide. */
  async verify(certPem: string): Promise<VerifyReport> {
    const { store } = this.deps;
    // The CA certificate only: verifying needs no key, and a host may have only ca.crt.
    let caPem: string;
    try {
      caPem = readFileSync(store.paths.caCert, 'utf8');
    } catch {
      throw new BrokerError('CA_NOT_INITIALIZED', `No CA certificate at ${store.paths.caCert}`);
    }
    const verdict = verifyCertificate(certPem, { caPem, crlPem: store.hasCrl() ? store.loadCrl() : undefined });
    const problems: string[] = [...verdict.problems];
    let registration: VerifyReport['registration'] = null;
    try {
      const row = await this.certificates.findIdentityByFingerprint(verdict.fingerprint256);
      if (row) {
        const status =
          row.cert_status === 'active' && row.not_after.getTime() < Date.now() ? 'expired' : row.cert_status;
        registration = { status, client: row.client_name, domain: row.domain };
        if (status === 'revoked' && !problems.includes('revoked')) problems.push('revoked');
        if (row.client_status !== 'active') problems.push('client disabled');
      } else {
        problems.push('not registered');
      }
    } catch (error) {
      problems.push(`registration could not be checked (${(error as Error).message})`);
    }
    return { verdict, registration, problems };
  }

  private sign(ca: CaMaterial, name: string, domain: string, request: IssueOrder): IssuedCertificate {
    const days = request.days ?? this.deps.config.pki.client_days;
    if (!Number.isInteger(days) || days < 1 || days > 3650)
      throw new BrokerError('INVALID_PAYLOAD', 'days must be a whole number from 1 to 3650');
    return issueClientCertificate(ca, {
      commonName: `${name}.${domain}`,
      days,
      notBefore: request.notBefore,
      notAfter: request.notAfter,
    });
  }

  private checkClient(name: string, domain: string, scoped = false): { name: string; domain: string } {
    if (!CLIENT_NAME.test(name)) throw new BrokerError('INVALID_PAYLOAD', CLIENT_NAME_RULE);
    const configured = this.deps.config.domains.find((d) => d.name === domain);
    if (!configured) throw new BrokerError('UNKNOWN_DOMAIN', `Domain ${domain} is not configured`);
    assertClientName(name, domain); // name.domain must fit a CN
    // A metrics identity reads every tenant's numbers: never in a domain that takes messages
    // (the loader refuses such a config too), and never from a domain admin.
    if (this.deps.config.metrics.client_names.includes(`${name}.${domain}`)) {
      if (configured.active)
        throw new BrokerError(
          'METRICS_IDENTITY_RESERVED',
          `${name}.${domain} is a metrics identity, and domain ${domain} accepts messages`,
        );
      if (scoped) throw new BrokerError('METRICS_IDENTITY_RESERVED');
    }
    return { name, domain };
  }

  private async revocationTargets(request: RevokeRequest): Promise<CertificateWithClient[]> {
    if (request.serial !== undefined) {
      let serial: string;
      try {
        serial = normalizeSerialHex(request.serial);
      } catch {
        throw new BrokerError('INVALID_PAYLOAD', `Not a certificate serial: "${request.serial}"`);
      }
      const row = await this.certificates.findBySerialWithClient(serial);
      // Outside the caller's domain reads as absent: scoped admins learn nothing about other domains.
      if (!row || (request.domain !== undefined && row.domain !== request.domain))
        throw new BrokerError('CERT_NOT_FOUND', `No certificate with serial ${serial}`);
      if (row.status === 'revoked')
        throw new BrokerError(
          'CERT_ALREADY_REVOKED',
          `Certificate ${serial} was revoked on ${row.revoked_at?.toISOString() ?? '?'}`,
        );
      return [row];
    }
    if (request.name === undefined || request.domain === undefined)
      throw new BrokerError('INVALID_PAYLOAD', 'Give a serial, or a client name and its domain');
    const client = await this.clients.findByNameAndDomain(request.name, request.domain);
    if (!client) throw new BrokerError('CLIENT_NOT_FOUND', `No client ${request.name}.${request.domain}`);
    const active = await this.certificates.listActiveForClient(client.id);
    if (active.length === 0)
      throw new BrokerError('CERT_NOT_FOUND', `Client ${request.name}.${request.domain} has no active certificate`);
    return active.map((row) => ({ ...row, client_name: client.name, domain: client.domain }));
  }

  private async record(
    request: { actor: string; ip?: string | undefined },
    action: string,
    serial: string,
    domain: string,
    details: Record<string, unknown>,
  ): Promise<void> {
    await this.audit.record({
      actor: request.actor,
      action,
      target_type: 'certificate',
      target_id: serial,
      domain,
      ip: request.ip ?? null,
      details,
    });
  }
}

/**
 * The active certificates issued before the one with id `newId` and not yet past their
 * end, newest (last issued) first: the first is the overlap, the rest are superseded.
 * One already past its end is left to the expiry sweep.
 */
function predecessors(active: CertificateRow[], newId: number, now: number): CertificateRow[] {
  return active.filter((row) => row.id < newId && row.not_after.getTime() > now).sort((a, b) => b.id - a.id);
}

function certificateRow(issued: IssuedCertificate, clientId: number) {
  return {
    serial: issued.serialHex,
    client_id: clientId,
    fingerprint: issued.fingerprint256,
    subject_cn: issued.commonName,
    not_before: issued.notBefore,
    not_after: issued.notAfter,
    status: 'active' as const,
  };
}

function bundleOf(issued: IssuedCertificate, ca: CaMaterial): IssuedBundle {
  return {
    common_name: issued.commonName,
    serial: issued.serialHex,
    fingerprint: issued.fingerprint256,
    cert_pem: issued.certPem,
    key_pem: issued.keyPem,
    ca_pem: ca.certPem,
    not_before: issued.notBefore.toISOString(),
    not_after: issued.notAfter.toISOString(),
  };
}

/** An `active` row past its not_after reads as `expired` even before the sweep marks it. */
export function summarize(row: CertificateWithClient, now: number): CertificateSummary {
  const status = row.status === 'active' && row.not_after.getTime() <= now ? 'expired' : row.status;
  const daysLeft = Math.floor((row.not_after.getTime() - now) / DAY_MS);
  return {
    serial: row.serial,
    fingerprint: row.fingerprint,
    client_id: row.client_id,
    client_name: row.client_name,
    domain: row.domain,
    common_name: row.subject_cn,
    status,
    client_status: row.client_status ?? 'active',
    not_before: row.not_before.toISOString(),
    not_after: row.not_after.toISOString(),
    days_left: daysLeft,
    expiring: status === 'active' && daysLeft < EXPIRY_WARNING_DAYS,
    revoked_at: row.revoked_at?.toISOString() ?? null,
    reason: row.reason,
  };
}
