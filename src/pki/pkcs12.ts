/**
 * PKCS#12 bundles for client hand-off (browsers, curl, Java key stores).
 *
 * Protection matches what `openssl pkcs12 -export` produces by default on OpenSSL 3,
 * so no `-legacy` flag is needed anywhere: the key is PBES2 / PBKDF2-HMAC-SHA256 /
 * AES-256-CBC and the integrity MAC is HMAC-SHA256. forge writes the bags and the
 * encrypted key; its MAC is hard-wired to SHA-1, so it is switched off and the MAC is
 * computed here instead. Certificates are not encrypted (they are public).
 */
import { createHmac, randomBytes, X509Certificate } from 'node:crypto';
import forge from 'node-forge';
import { BrokerError } from '../errors.js';
import { bufferFromBinary, derOf, integer, octetString, oid, seq } from './der.js';
import { keyMatchesCertificate, loadRsaPrivateKey } from './ca-signer.js';

const { asn1 } = forge;
type Asn1 = forge.asn1.Asn1;

const SHA256_OID = '2.16.840.1.101.3.4.2.1';
/** OpenSSL 3's PKCS12_DEFAULT_ITER; forge's PBKDF2 with an HMAC object runs in pure JS. */
export const DEFAULT_PKCS12_ITERATIONS = 2048;
const SALT_BYTES = 16;
/** RFC 7292 appendix B.3: diversifier ID 3 derives the MAC key. */
const MAC_KEY_ID = 3;

export interface Pkcs12Options {
  certPem: string;
  keyPem: string;
  /** Included after the leaf so importers see the chain. */
  caPem?: string | undefined;
  /** Hand-off bundles should get a generated password; the iteration count is modest. */
  password: string;
  friendlyName?: string | undefined;
  iterations?: number | undefined;
}

export function toPkcs12(options: Pkcs12Options): Buffer {
  const iterations = options.iterations ?? DEFAULT_PKCS12_ITERATIONS;
  if (!Number.isInteger(iterations) || iterations < 1)
    throw new BrokerError('CA_FAILURE', 'PKCS#12 iterations must be a positive integer');
  if (options.password.length === 0) throw new BrokerError('CA_FAILURE', 'A PKCS#12 bundle needs a password');
  if (!keyMatchesCertificate(loadRsaPrivateKey(options.keyPem), new X509Certificate(options.certPem))) {
    throw new BrokerError('CA_FAILURE', 'The private key does not belong to the certificate');
  }

  const key = forge.pki.privateKeyFromPem(options.keyPem) as forge.pki.rsa.PrivateKey;
  const chain = [options.certPem, ...(options.caPem ? [options.caPem] : [])].map((pem) =>
    forge.pki.certificateFromPem(pem),
  );
  const forgeOptions = {
    algorithm: 'aes256' as const,
    prfAlgorithm: 'sha256', // accepted by forge, missing from its typings
    count: iterations,
    saltSize: SALT_BYTES,
    useMac: false,
    generateLocalKeyId: true,
    ...(options.friendlyName === undefined ? {} : { friendlyName: options.friendlyName }),
  };
  // PBKDF2 takes the password as bytes: OpenSSL uses its UTF-8, forge would truncate
  // each UTF-16 unit to a byte, so hand forge the UTF-8 spelled as a binary string.
  const pfx = forge.pkcs12.toPkcs12Asn1(key, chain, forge.util.encodeUtf8(options.password), forgeOptions);
  (pfx.value as Asn1[]).push(macData(authenticatedSafeOf(pfx), options.password, iterations));
  return derOf(pfx);
}

/** PFX ::= SEQUENCE { version, authSafe ContentInfo(data), macData } — the MAC covers the data octets. */
function authenticatedSafeOf(pfx: Asn1): string {
  const contentInfo = (pfx.value as Asn1[])[1];
  const explicit = (contentInfo?.value as Asn1[] | undefined)?.[1];
  const octets = (explicit?.value as Asn1[] | undefined)?.[0]?.value;
  if (typeof octets !== 'string') throw new BrokerError('CA_FAILURE', 'Unexpected PKCS#12 layout from node-forge');
  return octets;
}

/**
 * MacData ::= SEQUENCE { DigestInfo { sha256, mac }, macSalt, iterations }.
 * The MAC key comes from the RFC 7292 KDF, which takes the password as a BMPString;
 * forge builds that from the JS string (UTF-16), as OpenSSL does from UTF-8.
 */
function macData(authenticatedSafe: string, password: string, iterations: number): Asn1 {
  const salt = randomBytes(SALT_BYTES);
  const macKey = forge.pkcs12.generateKey(
    password,
    new forge.util.ByteStringBuffer(salt.toString('binary')),
    MAC_KEY_ID,
    iterations,
    32,
    forge.md.sha256.create(),
  );
  const mac = createHmac('sha256', bufferFromBinary(macKey.getBytes()))
    .update(bufferFromBinary(authenticatedSafe))
    .digest();
  const nullParameters = asn1.create(asn1.Class.UNIVERSAL, asn1.Type.NULL, false, '');
  return seq([
    seq([seq([oid(SHA256_OID), nullParameters]), octetString(mac.toString('binary'))]),
    octetString(salt.toString('binary')),
    integer(BigInt(iterations)),
  ]);
}
