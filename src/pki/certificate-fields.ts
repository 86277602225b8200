/**
 * Field rules shared by the CA and the leaf certificates: names, validity windows and
 * fresh key pairs.
 */
import { generateKeyPairSync } from 'node:crypto';
import forge from 'node-forge';
import { BrokerError } from '../errors.js';
import { truncateToSeconds } from './der.js';

const DAY_MS = 86_400_000;

/**
 * Certificates start a little in the past: a peer whose clock runs behind ours would
 * otherwise reject a certificate issued "in its future" for the first minutes.
 */
export const BACKDATE_MS = 5 * 60_000;

export const ORGANIZATION = 'Message Broker';

export interface ValidityOptions {
  days?: number | undefined;
  notBefore?: Date | undefined;
  notAfter?: Date | undefined;
}

/** Explicit dates win (tests use them for expired certificates); otherwise now ± days. */
export function resolveValidity(options: ValidityOptions, defaultDays: number): { notBefore: Date; notAfter: Date } {
  const days = options.days ?? defaultDays;
  if (!Number.isInteger(days) || days < 1) {
    throw new BrokerError('CA_FAILURE', `Certificate lifetime must be a positive whole number of days, got ${days}`);
  }
  for (const [name, date] of [
    ['notBefore', options.notBefore],
    ['notAfter', options.notAfter],
  ] as const) {
    if (date !== undefined && Number.isNaN(date.getTime()))
      throw new BrokerError('CA_FAILURE', `${name} is not a valid date`);
  }
  const now = Date.now();
  const notBefore = truncateToSeconds(options.notBefore ?? new Date(now - BACKDATE_MS));
  const notAfter = truncateToSeconds(
    options.notAfter ?? new Date((options.notBefore?.getTime() ?? now) + days * DAY_MS),
  );
  if (notAfter.getTime() <= notBefore.getTime()) {
    throw new BrokerError('CA_FAILURE', 'notAfter must be later than notBefore');
  }
  return { notBefore, notAfter };
}

/** ub-common-name is 64 (RFC 5280 appendix A); control characters have no place in a DN. */
export function assertCommonName(commonName: string): void {
  if (typeof commonName !== 'string' || commonName.length === 0 || commonName.length > 64) {
    throw new BrokerError('CA_FAILURE', 'The common name must be 1 to 64 characters long');
  }
  if (/[\p{Cc}]/u.test(commonName) || commonName.trim() !== commonName) {
    throw new BrokerError('CA_FAILURE', 'The common name must not contain control characters or surrounding spaces');
  }
}

/** UTF8String, as RFC 5280 §4.1.2.4 asks of new certificates (forge defaults to PrintableString). */
export function nameAttributes(commonName: string, organization?: string): forge.pki.CertificateField[] {
  const utf8 = forge.asn1.Type.UTF8 as unknown as forge.asn1.Class; // typings mislabel valueTagClass
  const attributes: forge.pki.CertificateField[] = [];
  if (organization) attributes.push({ shortName: 'O', value: organization, valueTagClass: utf8 });
  attributes.push({ shortName: 'CN', value: commonName, valueTagClass: utf8 });
  return attributes;
}

export interface NativeKeyPair {
  privateKeyPem: string;
  publicKeyPem: string;
}

/** Native keygen: forge's JS keygen takes seconds for 2048 bits and minutes for 4096. */
export function generateRsaKeyPair(modulusLength: 2048 | 4096): NativeKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength,
    publicExponent: 0x10001,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return { privateKeyPem: privateKey, publicKeyPem: publicKey };
}
