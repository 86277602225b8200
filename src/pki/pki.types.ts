/**
 * Shapes shared across the PKI modules. Everything is PEM text so the values can be
 * written to disk, stored, or posted between threads without conversion.
 */

/** The CA's certificate and its private key (PKCS#8 PEM, unencrypted). */
export interface CaMaterial {
  certPem: string;
  keyPem: string;
}

/** Any certificate with its private key: the server's, the delivery client's. */
export interface CertificateKeyPair {
  certPem: string;
  keyPem: string;
}

export interface IssuedCertificate extends CertificateKeyPair {
  /** Normalised serial: lowercase hex, whole bytes, no sign byte (see `serial.ts`). */
  serialHex: string;
  /** SHA-256 of the certificate's DER, lowercase hex, no colons. */
  fingerprint256: string;
  /** As encoded in the certificate (whole seconds). */
  notBefore: Date;
  notAfter: Date;
  commonName: string;
}

/** RFC 5280 §5.3.1 CRLReason names: the one list the CLI and the CRL use (admins: ADMIN_REVOCATION_REASONS). */
export const REVOCATION_REASONS = [
  'unspecified',
  'keyCompromise',
  'caCompromise',
  'affiliationChanged',
  'superseded',
  'cessationOfOperation',
  'certificateHold',
  'privilegeWithdrawn',
] as const;
export type RevocationReason = (typeof REVOCATION_REASONS)[number];

/**
 * The reasons a portal admin gives, on the pages and the admin API alike: caCompromise is
 * the CA's own matter, not a client's, and certificateHold promises a hold that can be
 * lifted, while a revocation here is final. The CLI (the operator's) takes every reason.
 */
export const ADMIN_REVOCATION_REASONS = [
  'unspecified',
  'keyCompromise',
  'affiliationChanged',
  'superseded',
  'cessationOfOperation',
  'privilegeWithdrawn',
] as const satisfies readonly RevocationReason[];

export function isRevocationReason(value: unknown): value is RevocationReason {
  return typeof value === 'string' && (REVOCATION_REASONS as readonly string[]).includes(value);
}

/**
 * RFC 5280 §5.3.1 CRLReason values (7 is unused by the standard). Here rather than in
 * `crl.ts` so that callers needing only the names (the CLI's option list) do not load
 * node-forge.
 */
export const REVOCATION_REASON_CODES: Readonly<Record<RevocationReason, number>> = {
  unspecified: 0,
  keyCompromise: 1,
  caCompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  certificateHold: 6,
  privilegeWithdrawn: 9,
};
