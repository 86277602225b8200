/** Requests served by the CA actor, the only thread that loads the CA private key. */
import type { ControlProtocol } from '../actor.protocol.js';

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

/** RFC 5280 reason names (see src/pki/pki.types.ts). */
export type RevocationReasonName =
  | 'unspecified'
  | 'keyCompromise'
  | 'caCompromise'
  | 'affiliationChanged'
  | 'superseded'
  | 'cessationOfOperation'
  | 'certificateHold'
  | 'privilegeWithdrawn';

export interface CertificateSummary {
  serial: string;
  fingerprint: string;
  client_id: number;
  client_name: string;
  domain: string;
  common_name: string;
  status: 'active' | 'revoked' | 'expired';
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

export type CaProtocol = ControlProtocol & {
  /** Makes sure the CA, the server certificate, the CRL, the broker's delivery client certificate and the demo client exist. */
  'ca.bootstrap': {
    request: { hostnames: string[]; demo: { name: string; domain: string } | null };
    response: BootstrapResult;
  };
  /**
   * Registers a new client `name.domain` and issues its first certificate; a name that exists is
   * CLIENT_EXISTS (renew it). `ip` (optional, every changing request): where the order came from, for the audit log.
   */
  'ca.issue': {
    request: { name: string; domain: string; days?: number; actor: string; ip?: string };
    response: IssuedBundle;
  };
  /** New key and certificate, same CN, new serial; the old one stays valid (overlap) until it expires or is revoked. */
  'ca.renew': {
    request: { name: string; domain: string; days?: number; actor: string; ip?: string };
    response: IssuedBundle;
  };
  /**
   * Revokes one serial, or every active certificate of a client; rebuilds and publishes the CRL.
   * With `serial` and `domain` both given, a serial of another domain is CERT_NOT_FOUND (admin scoping).
   */
  'ca.revoke': {
    request: {
      serial?: string;
      name?: string;
      domain?: string;
      reason: RevocationReasonName;
      actor: string;
      ip?: string;
    };
    response: { revoked: Array<{ serial: string; fingerprint: string }>; crl: CrlInfo };
  };
  'ca.list': { request: { domain?: string }; response: { certificates: CertificateSummary[] } };
  'ca.crl': { request: Record<string, never>; response: CrlInfo & { pem: string } };
};
