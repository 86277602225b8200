/**
 * The versioned AES-256-GCM envelope every encrypted column holds (body_enc, sender_enc).
 *
 *   byte 0      version (1)
 *   byte 1      L = length of the key id
 *   2 .. 2+L    key id, ASCII (which data key sealed it; lets old rows open after rotation)
 *   +12         nonce, random per seal
 *   +16         GCM tag
 *   rest        ciphertext (same length as the plaintext)
 *
 * The caller's AAD (the message id) binds a ciphertext to its row: moved to another row it
 * no longer opens. The header (version, key id) is authenticated too, prepended to the AAD,
 * so it cannot be edited either; an implementation elsewhere must do the same.
 *
 * Random 96-bit nonces are safe up to about 2^32 seals per key (NIST SP 800-38D); rotate
 * the data key long before that.
 */
import { createCipheriv, createDecipheriv, randomFillSync } from 'node:crypto';
import { BrokerError } from '../errors.js';

export const ENVELOPE_VERSION = 1;
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;
export const KEY_BYTES = 32;
const ALGORITHM = 'aes-256-gcm';
/** Key ids are short ASCII names (k1, k2, …); the limit keeps them in one length byte. */
export const KEY_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

export type KeyLookup = (keyId: string) => Buffer | undefined;

/** Bytes of the envelope that seals `plaintextBytes` bytes under `keyId`. */
export function envelopeLength(keyId: string, plaintextBytes: number): number {
  return 2 + keyId.length + NONCE_BYTES + TAG_BYTES + plaintextBytes;
}

/**
 * Seals `plaintext` under `key`. The result owns its memory (not a slice of Node's shared
 * Buffer pool): it is posted to other threads, and a pooled slice would carry the whole
 * 8 KiB slab with it — plaintexts and key bytes of this thread included.
 */
export function sealEnvelope(key: Buffer, keyId: string, plaintext: Buffer, aad: Buffer): Buffer {
  const out = Buffer.allocUnsafeSlow(envelopeLength(keyId, plaintext.length));
  sealEnvelopeInto(out, 0, key, keyId, plaintext, aad);
  return out;
}

/**
 * Seals into `target` at `offset` (exactly `envelopeLength(keyId, plaintext.length)`
 * bytes) and returns the offset after it. Batches seal into one buffer of their own: one
 * allocation, and one ArrayBuffer to clone across threads instead of two per message.
 */
export function sealEnvelopeInto(
  target: Buffer,
  offset: number,
  key: Buffer,
  keyId: string,
  plaintext: Buffer,
  aad: Buffer,
): number {
  if (key.length !== KEY_BYTES) throw new BrokerError('CRYPTO_FAILURE', `data key ${keyId} is not ${KEY_BYTES} bytes`);
  if (!KEY_ID_PATTERN.test(keyId)) throw new BrokerError('CRYPTO_FAILURE', 'data key id is not a short ASCII name');
  const end = offset + envelopeLength(keyId, plaintext.length);
  if (end > target.length) throw new BrokerError('CRYPTO_FAILURE', 'envelope does not fit its buffer');
  target[offset] = ENVELOPE_VERSION;
  target[offset + 1] = keyId.length;
  target.write(keyId, offset + 2, 'latin1');
  const nonceAt = offset + 2 + keyId.length;
  const tagAt = nonceAt + NONCE_BYTES;
  const bodyAt = tagAt + TAG_BYTES;
  drawNonce(target, nonceAt);
  const cipher = createCipheriv(ALGORITHM, key, target.subarray(nonceAt, tagAt), { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.concat([target.subarray(offset, nonceAt), aad]));
  const body = cipher.update(plaintext);
  const final = cipher.final(); // empty for GCM, kept for form
  body.copy(target, bodyAt);
  final.copy(target, bodyAt + body.length);
  cipher.getAuthTag().copy(target, tagAt);
  return end;
}

/**
 * Random nonces, drawn from the CSPRNG 1024 at a time: one `randomFillSync` costs as much
 * for 12 KiB as for 12 bytes, and two per message was a fifth of the sealing time. Each
 * nonce is handed out once and the reservoir refilled when spent — GCM with a repeated
 * (key, nonce) pair leaks the XOR of the plaintexts and the authentication key. Nonces
 * are public (they sit in the envelope), so keeping the unspent ones in memory costs nothing.
 */
const reservoir = Buffer.allocUnsafeSlow(NONCE_BYTES * 1024);
let reservoirAt = reservoir.length;

function drawNonce(target: Buffer, at: number): void {
  if (reservoirAt + NONCE_BYTES > reservoir.length) {
    randomFillSync(reservoir);
    reservoirAt = 0;
  }
  reservoir.copy(target, at, reservoirAt, reservoirAt + NONCE_BYTES);
  reservoirAt += NONCE_BYTES;
}

interface ParsedEnvelope {
  keyId: string;
  header: Buffer;
  nonce: Buffer;
  tag: Buffer;
  ciphertext: Buffer;
}

function parseEnvelope(envelope: Buffer): ParsedEnvelope {
  if (envelope.length < 2) throw new BrokerError('CRYPTO_FAILURE', 'envelope is truncated');
  if (envelope[0] !== ENVELOPE_VERSION)
    throw new BrokerError('CRYPTO_FAILURE', `unknown envelope version ${envelope[0]}`);
  const idLength = envelope[1]!;
  const nonceAt = 2 + idLength;
  const tagAt = nonceAt + NONCE_BYTES;
  const bodyAt = tagAt + TAG_BYTES;
  if (idLength === 0 || envelope.length < bodyAt) throw new BrokerError('CRYPTO_FAILURE', 'envelope is truncated');
  const keyId = envelope.toString('latin1', 2, nonceAt);
  if (!KEY_ID_PATTERN.test(keyId)) throw new BrokerError('CRYPTO_FAILURE', 'envelope key id is malformed');
  return {
    keyId,
    header: envelope.subarray(0, nonceAt),
    nonce: envelope.subarray(nonceAt, tagAt),
    tag: envelope.subarray(tagAt, bodyAt),
    ciphertext: envelope.subarray(bodyAt),
  };
}

/** The id of the data key that sealed `envelope` (re-encryption picks rows by it). */
export function envelopeKeyId(envelope: Buffer): string {
  return parseEnvelope(envelope).keyId;
}

/** Opens an envelope; any failure (format, unknown key, tampering, wrong AAD) is CRYPTO_FAILURE. */
export function openEnvelope(lookupKey: KeyLookup, envelope: Buffer, aad: Buffer): Buffer {
  const parsed = parseEnvelope(envelope);
  const key = lookupKey(parsed.keyId);
  if (!key) throw new BrokerError('CRYPTO_FAILURE', `unknown data key id ${parsed.keyId}`);
  try {
    const decipher = createDecipheriv(ALGORITHM, key, parsed.nonce, { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.concat([parsed.header, aad]));
    decipher.setAuthTag(parsed.tag);
    const plaintext = decipher.update(parsed.ciphertext);
    // final() is where GCM checks the tag: nothing above may be trusted until it returns.
    const final = decipher.final();
    return final.length === 0 ? plaintext : Buffer.concat([plaintext, final]);
  } catch {
    // One message for every cause: the reason a forgery failed is no business of the caller.
    throw new BrokerError(
      'CRYPTO_FAILURE',
      'envelope failed authentication (tampered, truncated or bound to another message)',
    );
  }
}

/** A Uint8Array from a MessagePort as a Buffer over the same bytes (no copy). */
export function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
