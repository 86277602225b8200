/**
 * X.509 v2 certificate revocation lists, built with forge.asn1 (forge has no CRL
 * builder) and signed natively.
 *
 * The CRL is a liveness dependency: OpenSSL refuses every handshake once `nextUpdate`
 * has passed, so the caller re-signs well before it (DESIGN §4) and health/metrics
 * read `nextUpdate` back through `parseCrl`.
 *
 *   CertificateList ::= SEQUENCE { tbsCertList, signatureAlgorithm, signatureValue }
 *   TBSCertList ::= SEQUENCE {
 *     version v2(1), signature, issuer, thisUpdate, nextUpdate,
 *     revokedCertificates SEQUENCE OF SEQUENCE { serial, revocationDate, [reasonCode] }
 *                         -- omitted entirely when empty (RFC 5280 §5.1.2.6)
 *     crlExtensions [0] EXPLICIT { authorityKeyIdentifier, cRLNumber } }
 */
import { verify as verifySignature, X509Certificate } from 'node:crypto';
import forge from 'node-forge';
import { BrokerError } from '../errors.js';
import {
  asn1FromDer,
  binaryFromBuffer,
  derOf,
  firstElementOfSequence,
  fromPem,
  integer,
  integerValue,
  isTime,
  octetString,
  oid,
  seq,
  time,
  timeValue,
  toPem,
  truncateToSeconds,
} from './der.js';
import {
  certificateSubject,
  loadCaSigner,
  SHA256_WITH_RSA_OID,
  sha256WithRsaAlgorithm,
  signSha256,
} from './ca-signer.js';
import { normalizeSerialHex, serialFromBigInt, serialToBigInt } from './serial.js';
import { REVOCATION_REASON_CODES } from './pki.types.js';
import type { CaMaterial, RevocationReason } from './pki.types.js';

export type { RevocationReason } from './pki.types.js';

const { asn1 } = forge;
type Asn1 = forge.asn1.Asn1;

const OID = {
  reasonCode: '2.5.29.21',
  cRLNumber: '2.5.29.20',
  authorityKeyIdentifier: '2.5.29.35',
} as const;

export { REVOCATION_REASON_CODES } from './pki.types.js';

export interface RevokedCertificate {
  serialHex: string;
  revokedAt: Date;
  reason?: RevocationReason | undefined;
}

export interface BuildCrlOptions {
  revoked: readonly RevokedCertificate[];
  thisUpdate: Date;
  nextUpdate: Date;
  /** Monotonic per CA; relying parties use it to order CRLs. */
  crlNumber: number;
}

export interface ParsedCrl {
  thisUpdate: Date;
  nextUpdate: Date;
  crlNumber: number;
  /** Normalised serials (see `serial.ts`), in CRL order. */
  revokedSerials: string[];
  revoked: RevokedCertificate[];
}

export function buildCrl(ca: CaMaterial, options: BuildCrlOptions): string {
  const signer = loadCaSigner(ca);
  const thisUpdate = truncateToSeconds(options.thisUpdate);
  const nextUpdate = truncateToSeconds(options.nextUpdate);
  if (!(nextUpdate.getTime() > thisUpdate.getTime())) {
    throw new BrokerError('CA_FAILURE', 'The CRL nextUpdate must be later than thisUpdate');
  }
  if (!Number.isSafeInteger(options.crlNumber) || options.crlNumber < 0) {
    throw new BrokerError('CA_FAILURE', `The CRL number must be a non-negative integer, got ${options.crlNumber}`);
  }

  const fields: Asn1[] = [
    integer(1n), // v2: required because the CRL carries extensions
    sha256WithRsaAlgorithm(),
    signer.subject, // the CA subject bytes verbatim, so name matching cannot drift
    time(thisUpdate),
    time(nextUpdate),
  ];
  const entries = revokedEntries(options.revoked);
  if (entries.length > 0) fields.push(seq(entries));
  fields.push(
    asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, [
      seq([
        extension(
          OID.authorityKeyIdentifier,
          seq([asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, false, signer.keyIdentifier)]),
        ),
        extension(OID.cRLNumber, integer(BigInt(options.crlNumber))),
      ]),
    ]),
  );

  const tbs = seq(fields);
  const signature = signSha256(derOf(tbs), signer.privateKey);
  const certificateList = seq([
    tbs,
    sha256WithRsaAlgorithm(),
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.BITSTRING, false, `\u0000${binaryFromBuffer(signature)}`),
  ]);
  return toPem('X509 CRL', derOf(certificateList));
}

function revokedEntries(revoked: readonly RevokedCertificate[]): Asn1[] {
  const seen = new Set<string>();
  return revoked.map((entry) => {
    const serialHex = normalizeSerialHex(entry.serialHex);
    // A duplicate means the caller's revocation list is corrupt; better loud than silent.
    if (seen.has(serialHex)) throw new BrokerError('CA_FAILURE', `Serial ${serialHex} is listed twice in the CRL`);
    seen.add(serialHex);
    if (Number.isNaN(entry.revokedAt.getTime()))
      throw new BrokerError('CA_FAILURE', `Invalid revocation date for ${serialHex}`);
    const parts = [integer(serialToBigInt(serialHex)), time(truncateToSeconds(entry.revokedAt))];
    if (entry.reason !== undefined) {
      const code = REVOCATION_REASON_CODES[entry.reason];
      if (code === undefined) throw new BrokerError('CA_FAILURE', `Unknown revocation reason "${entry.reason}"`);
      const enumerated = asn1.create(asn1.Class.UNIVERSAL, asn1.Type.ENUMERATED, false, String.fromCharCode(code));
      parts.push(seq([extension(OID.reasonCode, enumerated)]));
    }
    return seq(parts);
  });
}

/** Extension ::= SEQUENCE { extnID, critical DEFAULT FALSE (omitted), extnValue OCTET STRING }. */
function extension(extnId: string, value: Asn1): Asn1 {
  return seq([oid(extnId), octetString(asn1.toDer(value).getBytes())]);
}

// ── Reading ─────────────────────────────────────────────────────────────────────────

export function parseCrl(pem: string): ParsedCrl {
  const tbs = tbsFieldsOf(fromPem(pem, 'X509 CRL'));
  const crlNumber = tbs.extensions.get(OID.cRLNumber);
  if (!tbs.nextUpdate) throw new BrokerError('CA_FAILURE', 'The CRL has no nextUpdate');
  if (!crlNumber) throw new BrokerError('CA_FAILURE', 'The CRL has no cRLNumber');
  const number = integerValue(asn1.fromDer(crlNumber));
  if (number > BigInt(Number.MAX_SAFE_INTEGER)) throw new BrokerError('CA_FAILURE', 'The CRL number is too large');
  const revoked = tbs.revoked.map(parseEntry);
  return {
    thisUpdate: tbs.thisUpdate,
    nextUpdate: tbs.nextUpdate,
    crlNumber: Number(number),
    revokedSerials: revoked.map((entry) => entry.serialHex),
    revoked,
  };
}

/**
 * Whether this CRL was signed by this CA: issuer bytes equal the CA subject and the
 * signature over the TBS bytes as received verifies with the CA's public key.
 */
export function isCrlIssuedBy(crlPem: string, caCertPem: string): boolean {
  const der = fromPem(crlPem, 'X509 CRL');
  const ca = new X509Certificate(caCertPem);
  const [, algorithm, signatureBits] = asn1FromDer(der).value as Asn1[];
  const algorithmOid = (algorithm?.value as Asn1[] | undefined)?.[0]?.value;
  if (typeof algorithmOid !== 'string' || typeof signatureBits?.value !== 'string') {
    throw new BrokerError('CA_FAILURE', 'Unexpected CRL layout');
  }
  if (asn1.derToOid(algorithmOid) !== SHA256_WITH_RSA_OID) return false;
  const signature = Buffer.from(signatureBits.value.slice(1), 'binary'); // drop the unused-bits octet
  const sameIssuer = tbsFieldsOf(der).issuerDer.equals(derOf(certificateSubject(ca)));
  return sameIssuer && verifySignature('sha256', firstElementOfSequence(der), ca.publicKey, signature);
}

/**
 * Whether a CRL must be re-signed: missing, not the CA's, unreadable, or past half its
 * life (re-signing then leaves the other half for a broker that was down to catch up).
 */
export function crlNeedsRefresh(crlPem: string | undefined, caCertPem: string, now = Date.now()): boolean {
  if (crlPem === undefined) return true;
  try {
    if (!isCrlIssuedBy(crlPem, caCertPem)) return true;
    const { thisUpdate, nextUpdate } = parseCrl(crlPem);
    return now > thisUpdate.getTime() + (nextUpdate.getTime() - thisUpdate.getTime()) / 2;
  } catch {
    return true;
  }
}

interface TbsCertListFields {
  issuerDer: Buffer;
  thisUpdate: Date;
  nextUpdate: Date | undefined;
  revoked: Asn1[];
  extensions: Map<string, string>;
}

function tbsFieldsOf(der: Buffer): TbsCertListFields {
  let fields: Asn1[];
  try {
    fields = ((asn1FromDer(der).value as Asn1[])[0]?.value ?? []) as Asn1[];
  } catch (error) {
    throw new BrokerError('CA_FAILURE', 'The CRL is not valid DER', { cause: String(error) });
  }
  let i = fields[0]?.type === asn1.Type.INTEGER && fields[0].tagClass === asn1.Class.UNIVERSAL ? 1 : 0; // version is optional
  i += 1; // signature AlgorithmIdentifier
  const issuer = fields[i++];
  const thisUpdate = fields[i++];
  if (!issuer || !isTime(thisUpdate)) throw new BrokerError('CA_FAILURE', 'Unexpected CRL layout');
  const nextUpdate = isTime(fields[i]) ? fields[i++] : undefined;
  const next = fields[i];
  const revoked =
    next?.tagClass === asn1.Class.UNIVERSAL && next.type === asn1.Type.SEQUENCE ? (fields[i++]!.value as Asn1[]) : [];
  const extensions =
    fields[i]?.tagClass === asn1.Class.CONTEXT_SPECIFIC
      ? extensionMap((fields[i]!.value as Asn1[])[0])
      : new Map<string, string>();
  return {
    issuerDer: derOf(issuer),
    thisUpdate: timeValue(thisUpdate),
    nextUpdate: nextUpdate ? timeValue(nextUpdate) : undefined,
    revoked,
    extensions,
  };
}

function parseEntry(entry: Asn1): RevokedCertificate {
  const [serial, revokedAt, extensions] = entry.value as Asn1[];
  if (!serial || !isTime(revokedAt)) throw new BrokerError('CA_FAILURE', 'Unexpected CRL entry layout');
  const parsed: RevokedCertificate = {
    serialHex: serialFromBigInt(integerValue(serial)),
    revokedAt: timeValue(revokedAt),
  };
  const reasonDer = extensionMap(extensions).get(OID.reasonCode);
  if (reasonDer !== undefined) {
    const code = (asn1.fromDer(reasonDer).value as string).charCodeAt(0);
    const name = (Object.keys(REVOCATION_REASON_CODES) as RevocationReason[]).find(
      (r) => REVOCATION_REASON_CODES[r] === code,
    );
    if (name) parsed.reason = name;
  }
  return parsed;
}

/** extnID → extnValue contents (the DER inside the OCTET STRING). */
function extensionMap(extensions: Asn1 | undefined): Map<string, string> {
  const map = new Map<string, string>();
  for (const ext of (extensions?.value ?? []) as Asn1[]) {
    const parts = ext.value as Asn1[];
    const id = asn1.derToOid(parts[0]?.value as string);
    map.set(id, parts[parts.length - 1]?.value as string);
  }
  return map;
}
