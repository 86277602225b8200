/**
 * The broker's root: a self-signed RSA-4096 CA that signs client, server and delivery
 * certificates and the CRL. It signs nothing else, hence pathLenConstraint 0.
 */
import { createPrivateKey, createPublicKey } from 'node:crypto';
import forge from 'node-forge';
import {
  assertCommonName,
  generateRsaKeyPair,
  nameAttributes,
  ORGANIZATION,
  resolveValidity,
} from './certificate-fields.js';
import { signCertificate } from './ca-signer.js';
import { randomSerialHex } from './serial.js';
import type { CaMaterial } from './pki.types.js';

export type { CaMaterial } from './pki.types.js';

export interface CreateCaOptions {
  /** Subject CN; the subject also carries O=Message Broker. */
  commonName: string;
  /** Lifetime in days (DESIGN §4: ten years, 3650). */
  days: number;
}

export function createCa(options: CreateCaOptions): CaMaterial {
  assertCommonName(options.commonName);
  const validity = resolveValidity({ days: options.days }, options.days);
  const keys = generateRsaKeyPair(4096);

  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(keys.publicKeyPem);
  cert.serialNumber = randomSerialHex();
  cert.validity.notBefore = validity.notBefore;
  cert.validity.notAfter = validity.notAfter;
  const subject = nameAttributes(options.commonName, ORGANIZATION);
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', critical: true, cA: true, pathLenConstraint: 0 },
    { name: 'keyUsage', critical: true, keyCertSign: true, cRLSign: true },
    // forge derives it from cert.publicKey (RFC 5280 method 1); leaves copy it as AKI.
    { name: 'subjectKeyIdentifier' },
  ]);

  const privateKey = createPrivateKey(keys.privateKeyPem);
  const certPem = signCertificate(cert, privateKey, createPublicKey(keys.publicKeyPem));
  return { certPem, keyPem: keys.privateKeyPem };
}
