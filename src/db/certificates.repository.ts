/**
 * The `certificates` table: every client certificate the broker's CA issued. The ingest
 * path resolves a presented certificate to its client through `findIdentityByFingerprint`
 * (one indexed join), and the CRL is built from `listRevoked`.
 *
 * Serials are stored in the one normalised form of `src/pki/serial.ts` (lowercase, whole
 * bytes, no sign byte), whatever spelling a caller passes (`0A:1B`, `0x…`, OpenSSL's
 * uppercase with a leading 00); fingerprints as lowercase hex.
 */
import { and, asc, desc, eq, lt, ne } from './drizzle.js';
import type { Database } from './database.js';
import { certificates, clients } from './schema.js';
import type { CertificateRow, CertificateStatus, ClientStatus, NewCertificateRow } from './schema.js';
import { normalizeSerialHex, tryNormalizeSerialHex } from '../pki/serial.js';

/** What the ingest path needs to admit or refuse a presented certificate. */
export interface CertificateIdentity {
  certificate_id: number;
  serial: string;
  fingerprint: string;
  cert_status: CertificateStatus;
  not_before: Date;
  not_after: Date;
  client_id: number;
  client_name: string;
  domain: string;
  client_status: ClientStatus;
}

export interface RevokedCertificate {
  serial: string;
  revoked_at: Date | null;
  reason: string | null;
}

export type CertificateWithClient = CertificateRow & {
  client_name: string;
  domain: string;
  /** The client's own status: a disabled client's certificates stay `active` but cannot connect. */
  client_status?: ClientStatus;
};

export class CertificatesRepository {
  constructor(private readonly db: Database) {}

  /** Inserts a certificate and returns its id; a repeated serial or fingerprint raises ER_DUP_ENTRY. */
  async insert(row: NewCertificateRow): Promise<number> {
    const [inserted] = await this.db
      .insert(certificates)
      .values({ ...row, serial: normalizeSerialHex(row.serial), fingerprint: row.fingerprint.toLowerCase() })
      .$returningId();
    if (inserted === undefined) throw new Error('INSERT INTO certificates returned no id');
    return inserted.id;
  }

  async findIdentityByFingerprint(fingerprint: string): Promise<CertificateIdentity | undefined> {
    const [row] = await this.selectIdentities().where(eq(certificates.fingerprint, fingerprint.toLowerCase())).limit(1);
    return row;
  }

  /** The identities of a client's active certificates (shared in Redis when it is enabled again). */
  async listActiveIdentitiesOfClient(clientId: number): Promise<CertificateIdentity[]> {
    return this.selectIdentities().where(and(eq(certificates.client_id, clientId), eq(certificates.status, 'active')));
  }

  private selectIdentities() {
    return this.db
      .select({
        certificate_id: certificates.id,
        serial: certificates.serial,
        fingerprint: certificates.fingerprint,
        cert_status: certificates.status,
        not_before: certificates.not_before,
        not_after: certificates.not_after,
        client_id: clients.id,
        client_name: clients.name,
        domain: clients.domain,
        client_status: clients.status,
      })
      .from(certificates)
      .innerJoin(clients, eq(clients.id, certificates.client_id))
      .$dynamic();
  }

  async findBySerial(serial: string): Promise<CertificateRow | undefined> {
    const normalized = tryNormalizeSerialHex(serial);
    if (normalized === undefined) return undefined;
    const [row] = await this.db.select().from(certificates).where(eq(certificates.serial, normalized)).limit(1);
    return row;
  }

  async findBySerialWithClient(serial: string): Promise<CertificateWithClient | undefined> {
    const normalized = tryNormalizeSerialHex(serial);
    if (normalized === undefined) return undefined;
    const [row] = await this.db
      .select({ certificate: certificates, client_name: clients.name, domain: clients.domain })
      .from(certificates)
      .innerJoin(clients, eq(clients.id, certificates.client_id))
      .where(eq(certificates.serial, normalized))
      .limit(1);
    return row === undefined ? undefined : { ...row.certificate, client_name: row.client_name, domain: row.domain };
  }

  /** A client may hold two active certificates while a renewal overlaps the old one. */
  async listActiveForClient(clientId: number): Promise<CertificateRow[]> {
    return this.db
      .select()
      .from(certificates)
      .where(and(eq(certificates.client_id, clientId), eq(certificates.status, 'active')))
      .orderBy(desc(certificates.not_after));
  }

  /**
   * Revokes by serial and returns the updated row, or undefined when no certificate has
   * that serial or it was already revoked (the first revocation's time and reason stand).
   */
  async revoke(serial: string, reason: string, at: Date): Promise<CertificateRow | undefined> {
    const normalized = tryNormalizeSerialHex(serial);
    if (normalized === undefined) return undefined;
    const [result] = await this.db
      .update(certificates)
      .set({ status: 'revoked', revoked_at: at, reason })
      .where(and(eq(certificates.serial, normalized), ne(certificates.status, 'revoked')));
    if (result.affectedRows === 0) return undefined;
    return this.findBySerial(normalized);
  }

  async listRevoked(): Promise<RevokedCertificate[]> {
    return this.db
      .select({ serial: certificates.serial, revoked_at: certificates.revoked_at, reason: certificates.reason })
      .from(certificates)
      .where(eq(certificates.status, 'revoked'))
      .orderBy(asc(certificates.revoked_at), asc(certificates.id));
  }

  async list(filter: { domain?: string } = {}): Promise<CertificateWithClient[]> {
    const rows = await this.db
      .select({
        certificate: certificates,
        client_name: clients.name,
        domain: clients.domain,
        client_status: clients.status,
      })
      .from(certificates)
      .innerJoin(clients, eq(clients.id, certificates.client_id))
      .where(filter.domain === undefined ? undefined : eq(clients.domain, filter.domain))
      .orderBy(asc(clients.domain), asc(clients.name), desc(certificates.not_after));
    return rows.map((row) => ({
      ...row.certificate,
      client_name: row.client_name,
      domain: row.domain,
      client_status: row.client_status,
    }));
  }

  /** Whether some certificate is still active past its not_after (what `markExpired` would flag). */
  async hasExpiredActive(now: Date): Promise<boolean> {
    const rows = await this.db
      .select({ id: certificates.id })
      .from(certificates)
      .where(and(eq(certificates.status, 'active'), lt(certificates.not_after, now)))
      .limit(1);
    return rows.length > 0;
  }

  /** Flags active certificates past not_after; returns how many changed. */
  async markExpired(now: Date): Promise<number> {
    const [result] = await this.db
      .update(certificates)
      .set({ status: 'expired' })
      .where(and(eq(certificates.status, 'active'), lt(certificates.not_after, now)));
    return result.affectedRows;
  }
}
