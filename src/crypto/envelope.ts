/**
 * The versioned AES-256-GCM envelopes the stream entries and the `messages` rows hold.
 *
 *   byte 0      version (1 or 2)
 *   byte 1      L = length of the key id
 *   2 .. 2+L    key id, ASCII (which data key sealed it; lets old rows open after rotation)
 *   +12         nonce, random per seal
 *   +16         GCM tag
 *   rest        ciphertext (same length as the plaintext)
 *
 * Version 1 seals one field: a message had two of them, the body's (`body_enc`) and the
 * number's (`sender_enc`). Version 2 seals the whole message in one envelope, half the
 * cipher set-ups (each `createCipheriv` costs ~10 µs of OpenSSL context set-up whatever the
 * size, more than the encryption of a 160-byte body); its plaintext is
 *
 *   2 bytes     N = byte length of the sender number, big-endian
 *   N bytes     the sender number, UTF-8
 *   rest        the body, UTF-8
 *
 * so the number's length is no longer visible from outside, as it was with v1's separate
 * `sender_enc`. A v2 envelope goes where the body envelope always went (`be` in a stream
 * entry, `body_enc` in MySQL) and the number's place holds zero bytes (`se` = '',
 * `sender_enc` = ''): no schema change, and every reader keeps taking a row's two columns.
 * `openMessage` opens both forms, so rows and stream entries of v1 (before the upgrade, or
 * of a broker not yet upgraded) still open; new seals and re-encryption (`mb keys`) write v2,
 * or v1 with `secrets.envelope_version: 1` while brokers that open only v1 still run.
 *
 * The caller's AAD (the message id) binds a ciphertext to its row: moved to another row it
 * no longer opens. The header (version, key id) is authenticated too, prepended to the AAD,
 * so it cannot be edited either (nor a v2 envelope passed off as a v1 one); an
 * implementation elsewhere must do the same.
 *
 * Random 96-bit nonces are safe up to about 2^32 seals per key (NIST SP 800-38D); rotate
 * the data key long before that.
 */
import { createCipheriv, createDecipheriv, randomFillSync } from 'node:crypto';
import { BrokerError } from '../errors.js';

/** One field per envelope (body_enc and sender_enc apart): always opened; sealed only with `secrets.envelope_version: 1`. */
export const ENVELOPE_V1 = 1;
/** One message per envelope: number and body together. */
export const ENVELOPE_V2 = 2;
/** The format new messages are sealed in (`secrets.envelope_version`). */
export type EnvelopeVersion = typeof ENVELOPE_V1 | typeof ENVELOPE_V2;

/** `secrets.envelope_version` (validated 1–2) as the type. */
export function envelopeVersionOf(configured: number): EnvelopeVersion {
  return configured === ENVELOPE_V1 ? ENVELOPE_V1 : ENVELOPE_V2;
}
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;
export const KEY_BYTES = 32;
/** The v2 plaintext's length prefix of the number. */
const NUMBER_LENGTH_BYTES = 2;
const MAX_NUMBER_BYTES = 0xffff;
const ALGORITHM = 'aes-256-gcm';
/** Key ids are short ASCII names (k1, k2, …); the limit keeps them in one length byte. */
export const KEY_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

export type KeyLookup = (keyId: string) => Buffer | undefined;

/** Bytes of the envelope that seals `plaintextBytes` bytes under `keyId`. */
export function envelopeLength(keyId: string, plaintextBytes: number): number {
  return 2 + keyId.length + NONCE_BYTES + TAG_BYTES + plaintextBytes;
}

/** Bytes of the v2 envelope of a message whose number and body take these many UTF-8 bytes. */
export function messageEnvelopeLength(keyId: string, numberBytes: number, bodyBytes: number): number {
  return envelopeLength(keyId, NUMBER_LENGTH_BYTES + numberBytes + bodyBytes);
}

/**
 * Seals `plaintext` as one v1 field envelope under `key` (the broker seals v2, `sealMessage`,
 * unless `secrets.envelope_version` is 1). The result owns its memory (not a slice of Node's shared Buffer pool): it is posted to other
 * threads, and a pooled slice would carry the whole 8 KiB slab with it — plaintexts and key
 * bytes of this thread included.
 */
export function sealEnvelope(key: Buffer, keyId: string, plaintext: Buffer, aad: Buffer): Buffer {
  const out = Buffer.allocUnsafeSlow(envelopeLength(keyId, plaintext.length));
  sealEnvelopeInto(out, 0, key, keyId, plaintext, aad);
  return out;
}

/**
 * Seals a v1 field envelope into `target` at `offset` (exactly
 * `envelopeLength(keyId, plaintext.length)` bytes) and returns the offset after it.
 */
export function sealEnvelopeInto(
  target: Buffer,
  offset: number,
  key: Buffer,
  keyId: string,
  plaintext: Buffer,
  aad: Buffer | string,
): number {
  return sealInto(target, offset, ENVELOPE_V1, key, keyId, plaintext, aad);
}

/** A message's number and body in one v2 envelope (own memory, as `sealEnvelope`). */
export function sealMessage(
  key: Buffer,
  keyId: string,
  number: string | Buffer,
  body: string | Buffer,
  aad: Buffer | string,
): Buffer {
  const out = Buffer.allocUnsafeSlow(
    messageEnvelopeLength(keyId, Buffer.byteLength(number, 'utf8'), Buffer.byteLength(body, 'utf8')),
  );
  sealMessageInto(out, 0, key, keyId, number, body, aad);
  return out;
}

/**
 * Seals a message's number and body as one v2 envelope into `target` at `offset` (exactly
 * `messageEnvelopeLength` bytes) and returns the offset after it. Batches seal into one
 * buffer of their own: one allocation, and one ArrayBuffer to clone across threads.
 */
export function sealMessageInto(
  target: Buffer,
  offset: number,
  key: Buffer,
  keyId: string,
  number: string | Buffer,
  body: string | Buffer,
  aad: Buffer | string,
): number {
  const numberBytes = Buffer.byteLength(number, 'utf8');
  if (numberBytes > MAX_NUMBER_BYTES)
    throw new BrokerError('INVALID_PAYLOAD', `a sender number of ${numberBytes} bytes does not fit an envelope`);
  const length = NUMBER_LENGTH_BYTES + numberBytes + Buffer.byteLength(body, 'utf8');
  const plaintext = scratch(length);
  try {
    plaintext.writeUInt16BE(numberBytes, 0);
    writeText(plaintext, number, NUMBER_LENGTH_BYTES);
    writeText(plaintext, body, NUMBER_LENGTH_BYTES + numberBytes);
    return sealInto(target, offset, ENVELOPE_V2, key, keyId, plaintext, aad);
  } finally {
    plaintext.fill(0);
  }
}

/** UTF-8 text given as a string, or as the bytes of one (re-encryption never decodes). */
function writeText(target: Buffer, text: string | Buffer, at: number): void {
  if (typeof text === 'string') target.write(text, at, 'utf8');
  else text.copy(target, at);
}

/**
 * The thread's plaintext scratch buffer, at least `length` bytes, returned as a view of
 * exactly `length`: one buffer reused for every seal instead of a Buffer per field. Its own
 * memory (never the shared pool), zeroed by the caller after each seal.
 */
let scratchBuffer = Buffer.allocUnsafeSlow(4096);
function scratch(length: number): Buffer {
  if (scratchBuffer.length < length) scratchBuffer = Buffer.allocUnsafeSlow(Math.max(length, scratchBuffer.length * 2));
  return scratchBuffer.subarray(0, length);
}

/** Header and caller's AAD, written into one reused buffer (no Buffer.concat per seal). */
let aadBuffer = Buffer.allocUnsafeSlow(256);
function fullAad(header: Buffer, aad: Buffer | string): Buffer {
  const length = header.length + (typeof aad === 'string' ? Buffer.byteLength(aad, 'utf8') : aad.length);
  if (aadBuffer.length < length) aadBuffer = Buffer.allocUnsafeSlow(Math.max(length, aadBuffer.length * 2));
  header.copy(aadBuffer, 0);
  if (typeof aad === 'string') aadBuffer.write(aad, header.length, 'utf8');
  else aad.copy(aadBuffer, header.length);
  return aadBuffer.subarray(0, length);
}

function sealInto(
  target: Buffer,
  offset: number,
  version: number,
  key: Buffer,
  keyId: string,
  plaintext: Buffer,
  aad: Buffer | string,
): number {
  if (key.length !== KEY_BYTES) throw new BrokerError('CRYPTO_FAILURE', `data key ${keyId} is not ${KEY_BYTES} bytes`);
  if (!KEY_ID_PATTERN.test(keyId)) throw new BrokerError('CRYPTO_FAILURE', 'data key id is not a short ASCII name');
  const end = offset + envelopeLength(keyId, plaintext.length);
  if (end > target.length) throw new BrokerError('CRYPTO_FAILURE', 'envelope does not fit its buffer');
  target[offset] = version;
  target[offset + 1] = keyId.length;
  target.write(keyId, offset + 2, 'latin1');
  const nonceAt = offset + 2 + keyId.length;
  const tagAt = nonceAt + NONCE_BYTES;
  const bodyAt = tagAt + TAG_BYTES;
  drawNonce(target, nonceAt);
  const cipher = createCipheriv(ALGORITHM, key, target.subarray(nonceAt, tagAt), { authTagLength: TAG_BYTES });
  cipher.setAAD(fullAad(target.subarray(offset, nonceAt), aad));
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
 * (key, nonce) pair leaks the XOR of the plaintexts and the authentication key. Random
 * rather than a counter (SP 800-38D's deterministic construction): a counter would need a
 * fixed field unique to each sealing thread, broker and restart under one key, which
 * nothing here can guarantee; random nonces need no state and stay safe across restarts
 * and brokers sharing a key, within the 2^32 seals per key above. Nonces are public (they
 * sit in the envelope), so keeping the unspent ones in memory costs nothing.
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
  version: number;
  keyId: string;
  header: Buffer;
  nonce: Buffer;
  tag: Buffer;
  ciphertext: Buffer;
}

/** An envelope's version, key id and where its nonce starts; CRYPTO_FAILURE if it does not parse. */
function readHeader(envelope: Buffer): { version: number; keyId: string; nonceAt: number } {
  if (envelope.length < 2) throw new BrokerError('CRYPTO_FAILURE', 'envelope is truncated');
  const version = envelope[0]!;
  if (version !== ENVELOPE_V1 && version !== ENVELOPE_V2)
    throw new BrokerError('CRYPTO_FAILURE', `unknown envelope version ${version}`);
  const idLength = envelope[1]!;
  const nonceAt = 2 + idLength;
  if (idLength === 0 || envelope.length < nonceAt + NONCE_BYTES + TAG_BYTES)
    throw new BrokerError('CRYPTO_FAILURE', 'envelope is truncated');
  const keyId = envelope.toString('latin1', 2, nonceAt);
  if (!KEY_ID_PATTERN.test(keyId)) throw new BrokerError('CRYPTO_FAILURE', 'envelope key id is malformed');
  return { version, keyId, nonceAt };
}

function parseEnvelope(envelope: Buffer): ParsedEnvelope {
  const { version, keyId, nonceAt } = readHeader(envelope);
  const tagAt = nonceAt + NONCE_BYTES;
  const bodyAt = tagAt + TAG_BYTES;
  return {
    version,
    keyId,
    header: envelope.subarray(0, nonceAt),
    nonce: envelope.subarray(nonceAt, tagAt),
    tag: envelope.subarray(tagAt, bodyAt),
    ciphertext: envelope.subarray(bodyAt),
  };
}

/** The id of the data key that sealed `envelope` (re-encryption picks rows by it). */
export function envelopeKeyId(envelope: Buffer): string {
  return readHeader(envelope).keyId;
}

/** The envelope's format version (1: one field, 2: a whole message); CRYPTO_FAILURE if it does not parse. */
export function envelopeVersion(envelope: Buffer): number {
  return readHeader(envelope).version;
}

/**
 * Whether a message's two sealed fields (stream entry `be`/`se`, row `body_enc`/`sender_enc`)
 * have a form that can open: a v2 envelope and nothing beside it, or two v1 envelopes.
 */
export function sealedPairParses(bodyEnc: Buffer, senderEnc: Buffer): boolean {
  try {
    const version = readHeader(bodyEnc).version;
    if (version === ENVELOPE_V2) return senderEnc.length === 0;
    return readHeader(senderEnc).version === ENVELOPE_V1;
  } catch {
    return false;
  }
}

/**
 * Opens a v1 field envelope; any failure (format, unknown key, tampering, wrong AAD) is
 * CRYPTO_FAILURE. A v2 envelope is refused: its plaintext is a framed message, not a field
 * (`openMessage` opens both).
 */
export function openEnvelope(lookupKey: KeyLookup, envelope: Buffer, aad: Buffer): Buffer {
  const parsed = parseEnvelope(envelope);
  if (parsed.version !== ENVELOPE_V1) throw new BrokerError('CRYPTO_FAILURE', 'a v2 envelope holds a whole message');
  return openParsed(lookupKey, parsed, aad);
}

export interface OpenedMessage {
  body: Buffer;
  /** Absent when a v1 row's number envelope was not asked for. */
  sender: Buffer | undefined;
}

/**
 * Opens a message from its two sealed fields, either form: a v2 envelope in `bodyEnc`
 * (`senderEnc` empty or not given), or v1 envelopes in both (`senderEnc` not given: the
 * body only). Any failure is CRYPTO_FAILURE, including a v2 envelope with a second
 * envelope beside it and a v2 plaintext whose framing does not add up.
 */
export function openMessage(
  lookupKey: KeyLookup,
  bodyEnc: Buffer,
  senderEnc: Buffer | null | undefined,
  aad: Buffer,
): OpenedMessage {
  const parsed = parseEnvelope(bodyEnc);
  if (parsed.version === ENVELOPE_V1) {
    const body = openParsed(lookupKey, parsed, aad);
    return { body, sender: senderEnc == null ? undefined : openEnvelope(lookupKey, senderEnc, aad) };
  }
  if (senderEnc != null && senderEnc.length > 0)
    throw new BrokerError('CRYPTO_FAILURE', 'a v2 envelope with a second envelope beside it');
  const plaintext = openParsed(lookupKey, parsed, aad);
  const numberEnd = plaintext.length < NUMBER_LENGTH_BYTES ? -1 : NUMBER_LENGTH_BYTES + plaintext.readUInt16BE(0);
  if (numberEnd < 0 || numberEnd > plaintext.length) {
    plaintext.fill(0);
    throw new BrokerError('CRYPTO_FAILURE', 'envelope plaintext is not a message');
  }
  return { sender: plaintext.subarray(NUMBER_LENGTH_BYTES, numberEnd), body: plaintext.subarray(numberEnd) };
}

function openParsed(lookupKey: KeyLookup, parsed: ParsedEnvelope, aad: Buffer): Buffer {
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
