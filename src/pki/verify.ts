/**
 * Offline verification of a client certificate against this broker's CA and CRL — the
 * same questions OpenSSL asks during the handshake, answered with reasons, for the CLI
 * `verify` command, the admin portal and tests.
 *
 * Problems are short stable strings (callers match on them); `valid` means none.
 */
import { X509Certificate } from 'node:crypto';
import { BrokerError } from '../errors.js';
import { isCrlIssuedBy, parseCrl } from './crl.js';
import { fingerprintOfDer } from './fingerprint.js';
import { normalizeSerialHex } from './serial.js';

export const CERTIFICATE_PROBLEMS = {
  notIssued: 'not issued by this CA',
  expired: 'expired',
  notYetValid: 'not yet valid',
  revoked: 'revoked',
  notClientAuth: 'not for client authentication',
  /** The CRL given is not signed by this CA, so revocation could not be checked. */
  crlNotIssued: 'crl not issued by this CA',
  /** Past nextUpdate: OpenSSL would now refuse every handshake (DESIGN §4). */
  crlExpired: 'crl expired',
} as const;

export type CertificateProblem = (typeof CERTIFICATE_PROBLEMS)[keyof typeof CERTIFICATE_PROBLEMS];

const CLIENT_AUTH_OID = '1.3.6.1.5.5.7.3.2';

export interface VerifyCertificateOptions {
  caPem: string;
  crlPem?: string | undefined;
  /** The instant to judge validity at; defaults to now. */
  at?: Date | undefined;
}

export interface CertificateVerdict {
  valid: boolean;
  problems: CertificateProblem[];
  /** As Node prints it, e.g. `CN=alice.example`. */
  subject: string;
  commonName: string | undefined;
  serialHex: string;
  fingerprint256: string;
  notBefore: Date;
  notAfter: Date;
}

export function verifyCertificate(certPem: string, options: VerifyCertificateOptions): CertificateVerdict {
  const cert = readCertificate(certPem, 'certificate');
  const ca = readCertificate(options.caPem, 'CA certificate');
  const at = options.at ?? new Date();
  const notBefore = new Date(cert.validFrom);
  const notAfter = new Date(cert.validTo);
  const serialHex = normalizeSerialHex(cert.serialNumber);
  const problems: CertificateProblem[] = [];

  // checkIssued compares names and AKI/SKI, so a different CA that happens to share our
  // subject name is still told apart; verify() then proves the signature.
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) problems.push(CERTIFICATE_PROBLEMS.notIssued);
  if (at.getTime() < notBefore.getTime()) problems.push(CERTIFICATE_PROBLEMS.notYetValid);
  if (at.getTime() > notAfter.getTime()) problems.push(CERTIFICATE_PROBLEMS.expired);
  // This CA always writes extKeyUsage; a certificate without it was not made as a client's.
  if (!(cert.keyUsage ?? []).includes(CLIENT_AUTH_OID)) problems.push(CERTIFICATE_PROBLEMS.notClientAuth);

  if (options.crlPem !== undefined) {
    if (!isCrlIssuedBy(options.crlPem, options.caPem)) {
      problems.push(CERTIFICATE_PROBLEMS.crlNotIssued);
    } else {
      const crl = parseCrl(options.crlPem);
      if (crl.revokedSerials.includes(serialHex)) problems.push(CERTIFICATE_PROBLEMS.revoked);
      if (at.getTime() > crl.nextUpdate.getTime()) problems.push(CERTIFICATE_PROBLEMS.crlExpired);
    }
  }

  return {
    valid: problems.length === 0,
    problems,
    subject: cert.subject,
    commonName: commonNameOf(cert.subject),
    serialHex,
    fingerprint256: fingerprintOfDer(cert.raw),
    notBefore,
    notAfter,
  };
}

function readCertificate(pem: string, what: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (error) {
    throw new BrokerError('CA_FAILURE', `The ${what} could not be read`, { cause: String(error) });
  }
}

/** Node joins RDNs with newlines: `O=Message Broker\nCN=alice.example`. */
function commonNameOf(subject: string): string | undefined {
  const line = subject.split('\n').find((part) => part.startsWith('CN='));
  return line?.slice(3);
}
