/**
 * Signing with Node's native RSA instead of node-forge's.
 *
 * forge builds the structures (TBSCertificate, CertificationRequestInfo) but its
 * pure-JS RSA takes hundreds of milliseconds per RSA-4096 signature and blocks the event
 * loop; `crypto.sign` does the same PKCS#1 v1.5 / SHA-256 signature in a few ms. The
 * signature bytes are then placed where forge would have put its own.
 */
import { createHash, createPrivateKey, createPublicKey, sign, X509Certificate } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import forge from 'node-forge';
import { BrokerError } from '../errors.js';
import { asn1FromDer, binaryFromBuffer, derOf, oid, seq, toPem } from './der.js';
import type { CaMaterial } from './pki.types.js';

const { asn1 } = forge;
type Asn1 = forge.asn1.Asn1;

export const SHA256_WITH_RSA_OID = '1.2.840.113549.1.1.11';
const SUBJECT_KEY_IDENTIFIER_OID = '2.5.29.14';

/** forge internals that the published typings leave out. */
interface ForgePkiInternals {
  getTBSCertificate(cert: forge.pki.Certificate): Asn1;
}
const forgePki = forge.pki as unknown as ForgePkiInternals;

/** Everything needed to sign on behalf of a CA, parsed once per operation. */
export interface CaSigner {
  privateKey: KeyObject;
  publicKey: KeyObject;
  certificate: X509Certificate;
  /** The CA subject exactly as encoded in its certificate, reused as `issuer`. */
  subject: Asn1;
  /** The CA's subjectKeyIdentifier (binary string), reused as authorityKeyIdentifier. */
  keyIdentifier: string;
}

/** AlgorithmIdentifier sha256WithRSAEncryption with its explicit NULL parameters. */
export function sha256WithRsaAlgorithm(): Asn1 {
  return seq([oid(SHA256_WITH_RSA_OID), asn1.create(asn1.Class.UNIVERSAL, asn1.Type.NULL, false, '')]);
}

export function loadRsaPrivateKey(keyPem: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch (error) {
    throw new BrokerError('CA_FAILURE', 'The private key could not be read', { cause: String(error) });
  }
  // Only RSA is issued and the algorithm identifiers below assume it.
  if (key.asymmetricKeyType !== 'rsa') {
    throw new BrokerError('CA_FAILURE', `Expected an RSA key, got ${key.asymmetricKeyType ?? 'unknown'}`);
  }
  return key;
}

/** PKCS#1 v1.5 with SHA-256 — the signature behind sha256WithRSAEncryption. */
export function signSha256(tbsDer: Buffer, privateKey: KeyObject): Buffer {
  return sign('sha256', tbsDer, privateKey);
}

export function keyMatchesCertificate(privateKey: KeyObject, certificate: X509Certificate): boolean {
  const fromKey = createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
  const fromCert = certificate.publicKey.export({ type: 'spki', format: 'der' });
  return fromKey.equals(fromCert);
}

export function loadCaSigner(ca: CaMaterial): CaSigner {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(ca.certPem);
  } catch (error) {
    throw new BrokerError('CA_FAILURE', 'The CA certificate could not be read', { cause: String(error) });
  }
  const privateKey = loadRsaPrivateKey(ca.keyPem);
  if (!keyMatchesCertificate(privateKey, certificate)) {
    throw new BrokerError('CA_FAILURE', 'The CA private key does not belong to the CA certificate');
  }
  const tbsFields = tbsCertificateFields(certificate.raw);
  return {
    privateKey,
    publicKey: certificate.publicKey,
    certificate,
    subject: tbsFields.subject,
    keyIdentifier: subjectKeyIdentifier(tbsFields.extensions) ?? keyIdentifierOf(certificate.publicKey),
  };
}

/**
 * Signs a forge certificate natively and returns its PEM. With `issuer` the DN forge
 * would encode is replaced by the CA's own bytes, so issuer and CA subject match
 * byte for byte even for a CA that was not made by forge.
 */
export function signCertificate(
  cert: forge.pki.Certificate,
  privateKey: KeyObject,
  verifyWith: KeyObject,
  issuer?: Asn1,
): string {
  cert.signatureOid = SHA256_WITH_RSA_OID;
  cert.siginfo.algorithmOid = SHA256_WITH_RSA_OID;
  const tbs = forgePki.getTBSCertificate(cert);
  if (issuer) {
    const fields = tbs.value as Asn1[];
    // TBSCertificate: [0] version, serialNumber, signature, issuer, …
    if (fields[3]?.type !== asn1.Type.SEQUENCE) throw new BrokerError('CA_FAILURE', 'Unexpected TBSCertificate layout');
    fields[3] = issuer;
  }
  // certificateToAsn1 prefers the cached TBS, so the signed bytes are the emitted bytes.
  cert.tbsCertificate = tbs;
  cert.signature = binaryFromBuffer(signSha256(derOf(tbs), privateKey));
  const pem = toPem('CERTIFICATE', derOf(forge.pki.certificateToAsn1(cert)));
  // A cheap public-key check that the splice produced what OpenSSL will accept.
  if (!new X509Certificate(pem).verify(verifyWith)) {
    throw new BrokerError('CA_FAILURE', 'The new certificate does not verify against the signing key');
  }
  return pem;
}

/** RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits (PKCS#1 RSAPublicKey). */
export function keyIdentifierOf(publicKey: KeyObject): string {
  const rsaPublicKey = publicKey.export({ type: 'pkcs1', format: 'der' });
  return binaryFromBuffer(createHash('sha1').update(rsaPublicKey).digest());
}

/** The subject Name of a certificate, as encoded. */
export function certificateSubject(certificate: X509Certificate): Asn1 {
  return tbsCertificateFields(certificate.raw).subject;
}

function tbsCertificateFields(certDer: Buffer): { subject: Asn1; extensions: Asn1 | undefined } {
  const certificate = asn1FromDer(certDer);
  const tbs = (certificate.value as Asn1[])[0];
  const fields = (tbs?.value ?? []) as Asn1[];
  // The version field is an explicit [0] and may be absent (v1 certificates).
  const offset = fields[0]?.tagClass === asn1.Class.CONTEXT_SPECIFIC ? 1 : 0;
  const subject = fields[offset + 4];
  if (subject?.type !== asn1.Type.SEQUENCE) throw new BrokerError('CA_FAILURE', 'Unexpected certificate layout');
  const extensions = fields.find((f) => f.tagClass === asn1.Class.CONTEXT_SPECIFIC && f.type === 3);
  return { subject, extensions };
}

function subjectKeyIdentifier(extensionsField: Asn1 | undefined): string | undefined {
  const list = (extensionsField?.value as Asn1[] | undefined)?.[0]?.value as Asn1[] | undefined;
  for (const extension of list ?? []) {
    const parts = extension.value as Asn1[];
    if (asn1.derToOid(parts[0]?.value as string) !== SUBJECT_KEY_IDENTIFIER_OID) continue;
    const extnValue = parts[parts.length - 1]?.value as string;
    return asn1.fromDer(extnValue).value as string;
  }
  return undefined;
}
