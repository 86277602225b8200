/**
 * Certificate serial numbers.
 *
 * Normalised form (`serialHex`), used everywhere a serial is stored or compared:
 * lowercase hex of the serial's big-endian magnitude, whole bytes (even length, so a
 * leading zero nibble is kept: `0a1b`), no leading 0x00 bytes (neither DER's sign byte
 * nor padding), no colons. This is exactly what `openssl x509 -serial`,
 * `openssl crl -text` and Node's `X509Certificate.serialNumber` print, lowercased.
 */
import { randomBytes } from 'node:crypto';
import { BrokerError } from '../errors.js';

/** 16 bytes = the "128-bit" serial; 127 bits are random, the top bit is kept clear. */
const SERIAL_BYTES = 16;

/**
 * A fresh random serial in normalised form. The top bit is cleared so the DER INTEGER
 * is positive without a sign byte, and a zero first byte is re-drawn so the encoding is
 * minimal — both are required by RFC 5280 §4.1.2.2 and checked by strict parsers.
 */
export function randomSerialHex(): string {
  for (;;) {
    const bytes = randomBytes(SERIAL_BYTES);
    bytes[0] = bytes[0]! & 0x7f;
    if (bytes[0] !== 0) return bytes.toString('hex');
  }
}

/**
 * Normalises a serial from any of the usual spellings (`0A:1B`, `0x0a1b`, `00C3…` with
 * a sign byte, upper or lower case) to the canonical form above.
 */
export function normalizeSerialHex(input: string): string {
  let hex = input.trim().toLowerCase().replace(/^0x/, '').replace(/[:\s]/g, '');
  if (!/^[0-9a-f]+$/.test(hex)) {
    throw new BrokerError('CA_FAILURE', `Not a hexadecimal serial number: "${input}"`);
  }
  if (hex.length % 2 === 1) hex = `0${hex}`;
  while (hex.length > 2 && hex.startsWith('00')) hex = hex.slice(2);
  if (hex.length > 40) throw new BrokerError('CA_FAILURE', 'Serial numbers are at most 20 bytes (RFC 5280)');
  return hex;
}

/** The same, for serials from outside (announcements, rows): undefined instead of a throw. */
export function tryNormalizeSerialHex(input: string): string | undefined {
  try {
    return normalizeSerialHex(input);
  } catch {
    return undefined;
  }
}

export function serialToBigInt(serialHex: string): bigint {
  return BigInt(`0x${normalizeSerialHex(serialHex)}`);
}

export function serialFromBigInt(value: bigint): string {
  return normalizeSerialHex(value.toString(16));
}
