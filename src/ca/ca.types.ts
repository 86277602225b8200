/** What the certificate authority takes and gives, whichever thread runs it. */
import type { RevocationReason } from '../pki/pki.types.js';

export interface IssuedBundle {
  common_name: string;
  serial: string;
  fingerprint: string;
  cert_pem: string;
  /** The client's private key: handed out once, never stored by the broker. */
  key_pem: string;
  ca_pem: string;
  not_before: string;
  not_after: string;
}

/**
 * What a renewal did beside issuing: a client keeps at most two active certificates, the
 * new one and the one it overlaps (the newest before it, valid until it expires or is
 * revoked); every older active one is revoked as `superseded`.
 */
export interface RenewedBundle extends IssuedBundle {
  /** The certificate that stays active beside the new one; null when the client had none. */
  overlaps: { serial: string; not_after: string } | null;
  /** Older active certificates this renewal revoked (reason `superseded`). */
  superseded: Array<{ serial: string; fingerprint: string }>;
  /** The CRL that lists them; null when none was superseded, or the re-sign failed (run `mb crl rebuild`). */
  crl_number: number | null;
  /** false when superseded certificates could not be announced to the running brokers (or the CRL not re-signed). */
  announced: boolean;
}

export interface BootstrapResult {
  created_ca: boolean;
  server_issued: boolean;
  /** Where the demo client's bundle lies (first start, or whenever its files are missing). */
  demo: {
    common_name: string;
    dir: string;
    cert_path: string;
    key_path: string;
    ca_path: string;
    created: boolean;
  } | null;
}

export interface CertificateSummary {
  serial: string;
  fingerprint: string;
  client_id: number;
  client_name: string;
  domain: string;
  common_name: string;
  status: 'active' | 'revoked' | 'expired';
  /** The client's own status: `disabled` refuses its connections whatever its certificates say. */
  client_status: 'active' | 'disabled';
  not_before: string;
  not_after: string;
  days_left: number;
  /** Expires within 30 days. */
  expiring: boolean;
  revoked_at: string | null;
  reason: string | null;
}

export interface CrlInfo {
  crl_number: number;
  this_update: string;
  next_update: string;
  revoked_serials: string[];
}

/** Registers client `name.domain` with its first certificate, or renews it (same CN, new serial). */
export interface IssueRequest {
  name: string;
  domain: string;
  days?: number;
  /** Who asked (a user's email, `cli`, …) and from where: for the audit log. */
  actor: string;
  ip?: string;
  /**
   * The caller administers one domain only (a domain admin, not a superadmin or the CLI):
   * it may not issue or renew a metrics identity (`metrics.client_names`).
   */
  scoped?: boolean;
}

/** One serial, or every active certificate of a client; with `serial` and `domain`, a serial of another domain is not found. */
export interface RevokeRequest {
  serial?: string;
  name?: string;
  domain?: string;
  reason: RevocationReason;
  actor: string;
  ip?: string;
}

export interface RevokeResult {
  revoked: Array<{ serial: string; fingerprint: string }>;
  crl: CrlInfo;
}

export interface BootstrapRequest {
  hostnames: string[];
  demo: { name: string; domain: string } | null;
}

/** What one maintenance run did. */
export interface MaintenanceResult {
  expired_marked: number;
  crl_signed: boolean;
  server_renewed: boolean;
}
