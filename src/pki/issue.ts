/**
 * Issuing leaf certificates: clients (mTLS into the front, and the broker's own
 * delivery client for webhook mTLS) and the server.
 *
 * Flow per certificate: native RSA-2048 keygen → CSR built by forge, signed natively,
 * round-tripped through PEM and verified (proof of possession, as a real CA would
 * demand) → certificate built by forge from the CSR, signed natively by the CA.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { isIP as isIpLiteral } from 'node:net';
import forge from 'node-forge';
import { BrokerError } from '../errors.js';
import { binaryFromBuffer, derOf } from './der.js';
import { assertCommonName, generateRsaKeyPair, nameAttributes, resolveValidity } from './certificate-fields.js';
import type { NativeKeyPair, ValidityOptions } from './certificate-fields.js';
import { loadCaSigner, SHA256_WITH_RSA_OID, signCertificate, signSha256 } from './ca-signer.js';
import type { CaSigner } from './ca-signer.js';
import { fingerprintOfDer } from './fingerprint.js';
import { normalizeSerialHex, randomSerialHex } from './serial.js';
import type { CaMaterial, IssuedCertificate } from './pki.types.js';

/** DESIGN §4: client certificates live a year unless told otherwise. */
export const DEFAULT_CLIENT_DAYS = 365;

export type ExtendedKeyUsage = 'clientAuth' | 'serverAuth';

export interface IssueClientOptions extends ValidityOptions {
  commonName: string;
  /** Defaults to clientAuth; serverAuth exists so tests can mint a wrong-usage certificate. */
  extKeyUsage?: ExtendedKeyUsage | undefined;
}

export interface IssueServerOptions {
  commonName: string;
  /** DNS names and IP literals ('127.0.0.1', '::1') for subjectAltName; the CN is not added implicitly. */
  hostnames: string[];
  days: number;
  /** Explicit dates win over `days` (tests use them for a certificate close to its end). */
  notBefore?: Date | undefined;
  notAfter?: Date | undefined;
}

interface ForgeCsrInternals {
  getCertificationRequestInfo(csr: forge.pki.CertificateSigningRequest): forge.asn1.Asn1;
}
const forgePki = forge.pki as unknown as ForgeCsrInternals;

export function issueClientCertificate(ca: CaMaterial, options: IssueClientOptions): IssuedCertificate {
  return issue(ca, {
    commonName: options.commonName,
    validity: resolveValidity(options, DEFAULT_CLIENT_DAYS),
    extKeyUsage: options.extKeyUsage ?? 'clientAuth',
    altNames: [],
  });
}

export function issueServerCertificate(ca: CaMaterial, options: IssueServerOptions): IssuedCertificate {
  if (options.hostnames.length === 0) {
    throw new BrokerError('CA_FAILURE', 'A server certificate needs at least one hostname or IP address');
  }
  return issue(ca, {
    commonName: options.commonName,
    validity: resolveValidity(
      { days: options.days, notBefore: options.notBefore, notAfter: options.notAfter },
      options.days,
    ),
    extKeyUsage: 'serverAuth',
    altNames: options.hostnames.map(altNameFor),
  });
}

interface IssueRequest {
  commonName: string;
  validity: { notBefore: Date; notAfter: Date };
  extKeyUsage: ExtendedKeyUsage;
  altNames: AltName[];
}

type AltName = { type: 2; value: string } | { type: 7; ip: string };

function issue(ca: CaMaterial, request: IssueRequest): IssuedCertificate {
  assertCommonName(request.commonName);
  const signer = loadCaSigner(ca);
  assertCaCurrent(signer);
  const keys = generateRsaKeyPair(2048);
  const privateKey = createPrivateKey(keys.privateKeyPem);
  const csr = buildVerifiedCsr(request.commonName, keys, privateKey);

  const cert = forge.pki.createCertificate();
  cert.publicKey = csr.publicKey as forge.pki.PublicKey;
  cert.serialNumber = randomSerialHex();
  cert.validity.notBefore = request.validity.notBefore;
  cert.validity.notAfter = request.validity.notAfter;
  cert.setSubject(csr.subject.attributes);
  const extensions: object[] = [
    { name: 'basicConstraints', critical: true, cA: false },
    { name: 'keyUsage', critical: true, digitalSignature: true, keyEncipherment: true },
    { name: 'extKeyUsage', [request.extKeyUsage]: true },
    { name: 'subjectKeyIdentifier' },
    // Passed explicitly: forge's `keyIdentifier: true` would use the subject's own key.
    { name: 'authorityKeyIdentifier', keyIdentifier: signer.keyIdentifier },
  ];
  if (request.altNames.length > 0) extensions.push({ name: 'subjectAltName', altNames: request.altNames });
  cert.setExtensions(extensions);

  const certPem = signCertificate(cert, signer.privateKey, signer.publicKey, signer.subject);
  return describeIssued(certPem, keys.privateKeyPem, request.commonName, cert.serialNumber);
}

function buildVerifiedCsr(
  commonName: string,
  keys: NativeKeyPair,
  privateKey: KeyObject,
): forge.pki.CertificateSigningRequest {
  const csr = forge.pki.createCertificationRequest();
  csr.publicKey = forge.pki.publicKeyFromPem(keys.publicKeyPem);
  csr.setSubject(nameAttributes(commonName));
  csr.signatureOid = SHA256_WITH_RSA_OID;
  csr.siginfo.algorithmOid = SHA256_WITH_RSA_OID;
  const info = forgePki.getCertificationRequestInfo(csr);
  csr.certificationRequestInfo = info;
  csr.signature = binaryFromBuffer(signSha256(derOf(info), privateKey));
  // Re-parse so verification digests the bytes a remote requester would have sent.
  const parsed = forge.pki.certificationRequestFromPem(forge.pki.certificationRequestToPem(csr));
  if (!parsed.verify()) throw new BrokerError('CA_FAILURE', 'The certificate request signature does not verify');
  return parsed;
}

function assertCaCurrent(signer: CaSigner): void {
  const notAfter = new Date(signer.certificate.validTo);
  if (!(notAfter.getTime() > Date.now())) {
    throw new BrokerError('CA_FAILURE', `The CA certificate expired on ${notAfter.toISOString()}; renew the CA first`);
  }
}

function altNameFor(hostname: string): AltName {
  const host = hostname.trim();
  if (isIpLiteral(host) !== 0) return { type: 7, ip: host };
  // LDH labels, optionally one leading wildcard label: what TLS clients will match.
  if (
    !/^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i.test(host) ||
    host.length > 253
  ) {
    throw new BrokerError('CA_FAILURE', `Not a DNS name or IP address: "${hostname}"`);
  }
  return { type: 2, value: host.toLowerCase() };
}

function describeIssued(certPem: string, keyPem: string, commonName: string, serial: string): IssuedCertificate {
  const x509 = new X509Certificate(certPem);
  const serialHex = normalizeSerialHex(x509.serialNumber);
  // Guards the documented normalisation: what we report is what OpenSSL prints.
  if (serialHex !== normalizeSerialHex(serial))
    throw new BrokerError('CA_FAILURE', 'Serial number mismatch after signing');
  return {
    certPem,
    keyPem,
    serialHex,
    fingerprint256: fingerprintOfDer(x509.raw),
    notBefore: new Date(x509.validFrom),
    notAfter: new Date(x509.validTo),
    commonName,
  };
}
