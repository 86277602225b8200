/**
 * Certificate fingerprints: the key by which the front recognises a client.
 *
 * One spelling everywhere — lowercase hex, no colons — because the same value is
 * written to the database at issue time and compared on every request against
 * `tlsSocket.getPeerCertificate().fingerprint256` (uppercase, colon-separated).
 */
import { createHash, X509Certificate } from 'node:crypto';
import { BrokerError } from '../errors.js';

/** SHA-256 of the certificate's DER encoding. */
export function fingerprintOfDer(der: Uint8Array): string {
  return createHash('sha256').update(der).digest('hex');
}

export function fingerprintOfPem(certPem: string): string {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(certPem);
  } catch (error) {
    throw new BrokerError('CA_FAILURE', 'The certificate could not be read', { cause: String(error) });
  }
  return fingerprintOfDer(certificate.raw);
}

/**
 * `AB:CD:…` (Node, OpenSSL) → `abcd…`. Anything that is not a SHA-256 fingerprint
 * after that is a programming error, not a client mistake, so it throws.
 */
export function normalizeFingerprint(colonHex: string): string {
  const hex = colonHex.replace(/[:\s]/g, '').toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(hex)) {
    throw new BrokerError('CA_FAILURE', 'Not a SHA-256 certificate fingerprint');
  }
  return hex;
}
