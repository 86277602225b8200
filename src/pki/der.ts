/**
 * Low-level DER and PEM helpers shared by the certificate, CRL and PKCS#12 builders.
 *
 * node-forge speaks "binary strings" (one char per byte); Node speaks Buffers. The
 * conversions live here so the builders read as ASN.1, not as byte shuffling.
 */
import forge from 'node-forge';
import { BrokerError } from '../errors.js';

const { asn1 } = forge;
type Asn1 = forge.asn1.Asn1;

export function bufferFromBinary(binary: string): Buffer {
  return Buffer.from(binary, 'binary');
}

export function binaryFromBuffer(buffer: Uint8Array): string {
  return Buffer.from(buffer.buffer, buffer.byteOffset, buffer.byteLength).toString('binary');
}

export function derOf(node: Asn1): Buffer {
  return bufferFromBinary(asn1.toDer(node).getBytes());
}

/**
 * Strict parse (no trailing bytes, no overlong lengths). Bit strings stay opaque:
 * forge would otherwise try to decode a signature that happens to look like DER.
 */
export function asn1FromDer(der: Uint8Array): Asn1 {
  const options = { strict: true, parseAllBytes: true, decodeBitStrings: false };
  return asn1.fromDer(binaryFromBuffer(der), options as unknown as boolean); // typings only allow `strict`
}

// ── PEM ─────────────────────────────────────────────────────────────────────────────

/** PEM with LF line endings (forge writes CRLF, which makes diffs and `cat` noisy). */
export function toPem(label: string, der: Uint8Array): string {
  const base64 = Buffer.from(der).toString('base64');
  const lines = base64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** The DER body of the first PEM block with this label. */
export function fromPem(pem: string, label: string): Buffer {
  const escaped = label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const match = new RegExp(`-----BEGIN ${escaped}-----([\\s\\S]*?)-----END ${escaped}-----`).exec(pem);
  if (!match?.[1]) throw new BrokerError('CA_FAILURE', `No PEM block labelled "${label}" found`);
  return Buffer.from(match[1].replace(/\s+/g, ''), 'base64');
}

// ── Primitive builders ──────────────────────────────────────────────────────────────

export function seq(children: Asn1[]): Asn1 {
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, children);
}

export function oid(dotted: string): Asn1 {
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(dotted).getBytes());
}

export function octetString(binary: string): Asn1 {
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OCTETSTRING, false, binary);
}

/** DER INTEGER from a non-negative bigint: minimal bytes, 0x00 prefix when the top bit is set. */
export function integer(value: bigint): Asn1 {
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, unsignedIntegerBytes(value));
}

export function unsignedIntegerBytes(value: bigint): string {
  if (value < 0n) throw new BrokerError('CA_FAILURE', 'Negative integers are not used in this PKI');
  let hex = value.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  // A leading byte >= 0x80 would read as negative in two's complement.
  if (Number.parseInt(hex.slice(0, 2), 16) >= 0x80) hex = `00${hex}`;
  return forge.util.hexToBytes(hex);
}

/** The magnitude of a DER INTEGER's content octets (the sign byte dropped). */
export function integerValue(node: Asn1): bigint {
  const bytes = node.value as string;
  if (bytes.length === 0) throw new BrokerError('CA_FAILURE', 'Empty INTEGER in DER');
  if (bytes.charCodeAt(0) >= 0x80) throw new BrokerError('CA_FAILURE', 'Negative INTEGER in DER');
  return BigInt(`0x${forge.util.bytesToHex(bytes) || '0'}`);
}

/**
 * RFC 5280 §4.1.2.5: UTCTime for years 1950–2049, GeneralizedTime otherwise. Seconds
 * precision only — callers truncate milliseconds first so what they return matches
 * what was encoded.
 */
export function time(date: Date): Asn1 {
  const year = date.getUTCFullYear();
  return year >= 1950 && year < 2050
    ? asn1.create(asn1.Class.UNIVERSAL, asn1.Type.UTCTIME, false, asn1.dateToUtcTime(date))
    : asn1.create(asn1.Class.UNIVERSAL, asn1.Type.GENERALIZEDTIME, false, asn1.dateToGeneralizedTime(date));
}

export function isTime(node: Asn1 | undefined): node is Asn1 {
  return (
    node?.tagClass === asn1.Class.UNIVERSAL &&
    (node.type === asn1.Type.UTCTIME || node.type === asn1.Type.GENERALIZEDTIME)
  );
}

export function timeValue(node: Asn1): Date {
  const text = node.value as string;
  return node.type === asn1.Type.UTCTIME ? asn1.utcTimeToDate(text) : asn1.generalizedTimeToDate(text);
}

/** X.509 times carry whole seconds; drop the milliseconds so round trips compare equal. */
export function truncateToSeconds(date: Date): Date {
  return new Date(Math.floor(date.getTime() / 1000) * 1000);
}

// ── Raw TLV slicing ─────────────────────────────────────────────────────────────────

/**
 * The exact bytes of the first element inside a top-level SEQUENCE. Signatures cover
 * the TBS bytes as transmitted, so they are sliced rather than re-encoded.
 */
export function firstElementOfSequence(der: Buffer): Buffer {
  const outer = readHeader(der, 0);
  const inner = readHeader(der, outer.contentStart);
  return der.subarray(outer.contentStart, inner.contentStart + inner.length);
}

function readHeader(der: Buffer, offset: number): { contentStart: number; length: number } {
  const first = der[offset + 1];
  if (der[offset] === undefined || first === undefined) throw truncated();
  if (first < 0x80) return { contentStart: offset + 2, length: first };
  const count = first & 0x7f;
  if (count === 0 || count > 4) throw new BrokerError('CA_FAILURE', 'Unsupported DER length encoding');
  let length = 0;
  for (let i = 0; i < count; i++) {
    const byte = der[offset + 2 + i];
    if (byte === undefined) throw truncated();
    length = length * 256 + byte;
  }
  const contentStart = offset + 2 + count;
  if (contentStart + length > der.length) throw truncated();
  return { contentStart, length };
}

function truncated(): BrokerError {
  return new BrokerError('CA_FAILURE', 'Truncated DER structure');
}
