/**
 * The broker's certificate authority: pure functions over PEM text plus one file store.
 * No database, no threads — callers (the CA actor, the CLI, tests) add those.
 */
export type { CaMaterial, CertificateKeyPair, IssuedCertificate, RevocationReason } from './pki.types.js';

export { createCa } from './ca.js';
export type { CreateCaOptions } from './ca.js';

export { DEFAULT_CLIENT_DAYS, issueClientCertificate, issueServerCertificate } from './issue.js';
export type { ExtendedKeyUsage, IssueClientOptions, IssueServerOptions } from './issue.js';

export { buildCrl, isCrlIssuedBy, parseCrl, REVOCATION_REASON_CODES } from './crl.js';
export type { BuildCrlOptions, ParsedCrl, RevokedCertificate } from './crl.js';

export { fingerprintOfDer, fingerprintOfPem, normalizeFingerprint } from './fingerprint.js';

export { DEFAULT_PKCS12_ITERATIONS, toPkcs12 } from './pkcs12.js';
export type { Pkcs12Options } from './pkcs12.js';

export { CERTIFICATE_PROBLEMS, verifyCertificate } from './verify.js';
export type { CertificateProblem, CertificateVerdict, VerifyCertificateOptions } from './verify.js';

export { CertStore } from './cert-store.js';
export type { ClientBundle } from './cert-store.js';

export { normalizeSerialHex } from './serial.js';
