/**
 * The batch operations as pure functions of key material, shared by the inline path
 * (`EncryptionService`, on the actor thread) and the pool threads (`encryption.pool-task`).
 * Nothing here knows where the keys came from.
 */
import type { KeyObject } from 'node:crypto';
import { BrokerError, toErrorData } from '../errors.js';
import type { OpenInput, OpenResult, SealedMessage, SealInput } from './crypto.types.js';
import {
  ENVELOPE_V1,
  envelopeLength,
  messageEnvelopeLength,
  openMessage,
  sealEnvelopeInto,
  sealMessageInto,
  toBuffer,
  type EnvelopeVersion,
  type KeyLookup,
} from './envelope.js';
import { hashNumber, maskNumber } from './number-hash.js';

/** What sealing needs: the active data key and the active pepper. */
export interface SealMaterial {
  keyId: string;
  key: Buffer;
  pepperId: string;
  /** A KeyObject of the pepper where a long-lived holder keeps one (cheaper HMACs). */
  pepper: Buffer | KeyObject;
  /**
   * 2 (default): number and body in one envelope; 1: two envelopes, for a fleet that still
   * runs brokers which open v1 only (`secrets.envelope_version`).
   */
  envelopeVersion?: EnvelopeVersion;
}

/**
 * Seals a batch: each message's number and body in one v2 envelope (`body_enc`; its
 * `sender_enc` is empty, src/crypto/envelope.ts), or in two v1 envelopes when the material
 * says so. Every envelope of the batch is a view into one buffer that the batch owns
 * (ciphertexts of this batch only, nothing else of this thread): one allocation, and one
 * ArrayBuffer to clone across each thread hop instead of one per message. Receivers take
 * each view with its byteOffset/byteLength (`toBuffer`), never its `.buffer` whole.
 */
export function sealBatch(material: SealMaterial, items: readonly SealInput[]): SealedMessage[] {
  assertArray(items, 'items');
  const v1 = material.envelopeVersion === ENVELOPE_V1;
  let total = 0;
  for (let i = 0; i < items.length; i++) {
    const item = items[i]!;
    assertSealInput(item, i);
    const numberBytes = Buffer.byteLength(item.sender_number, 'utf8');
    const bodyBytes = Buffer.byteLength(item.message_body, 'utf8');
    total += v1
      ? envelopeLength(material.keyId, numberBytes) + envelopeLength(material.keyId, bodyBytes)
      : messageEnvelopeLength(material.keyId, numberBytes, bodyBytes);
  }
  // Not from Node's shared pool: this buffer crosses threads, a pooled slab would carry
  // whatever else this thread put in it.
  const arena = Buffer.allocUnsafeSlow(total);
  const out = new Array<SealedMessage>(items.length);
  const { key, keyId } = material;
  let at = 0;
  for (let i = 0; i < items.length; i++) {
    const item = items[i]!;
    const start = at;
    // The message id is the AAD: an envelope copied into another row fails to open.
    let bodyEnd: number;
    if (v1) {
      bodyEnd = sealEnvelopeInto(arena, at, key, keyId, Buffer.from(item.message_body), item.message_id);
      at = sealEnvelopeInto(arena, bodyEnd, key, keyId, Buffer.from(item.sender_number), item.message_id);
    } else {
      at = bodyEnd = sealMessageInto(arena, at, key, keyId, item.sender_number, item.message_body, item.message_id);
    }
    out[i] = {
      body_enc: arena.subarray(start, bodyEnd),
      sender_enc: v1 ? arena.subarray(bodyEnd, at) : NO_ENVELOPE,
      key_id: material.keyId,
      sender_hash: hashNumber(material.pepper, item.sender_number),
      pepper_id: material.pepperId,
      sender_masked: maskNumber(item.sender_number),
    };
  }
  return out;
}

/** The number's own envelope of a v2 message: none (zero bytes, shared, never written to). */
const NO_ENVELOPE = new Uint8Array(0);

/** One result per item: a row that fails to open must not hide the rest of the page. */
export function openBatch(lookupKey: KeyLookup, items: readonly OpenInput[]): OpenResult[] {
  assertArray(items, 'items');
  const out = new Array<OpenResult>(items.length);
  for (let i = 0; i < items.length; i++) {
    out[i] = openOne(lookupKey, items[i]!);
  }
  return out;
}

/**
 * The number comes back only when the caller passed the row's `sender_enc` (empty for v2
 * rows, whose number is inside `body_enc`): the portal, which shows the body, never asks.
 */
function openOne(lookupKey: KeyLookup, item: OpenInput): OpenResult {
  try {
    if (!item || typeof item.message_id !== 'string' || !(item.body_enc instanceof Uint8Array)) {
      throw new BrokerError('CRYPTO_FAILURE', 'open item needs a message_id and a body_enc');
    }
    if (item.sender_enc != null && !(item.sender_enc instanceof Uint8Array))
      throw new BrokerError('CRYPTO_FAILURE', 'open item sender_enc is not bytes');
    const aad = Buffer.from(item.message_id, 'utf8');
    const wantsSender = item.sender_enc != null;
    // Bytes off a MessagePort are plain Uint8Arrays: view them as Buffers, no copy.
    const opened = openMessage(
      lookupKey,
      toBuffer(item.body_enc),
      wantsSender ? toBuffer(item.sender_enc!) : undefined,
      aad,
    );
    const body = opened.body.toString('utf8');
    if (!wantsSender) {
      opened.sender?.fill(0);
      return { ok: true, message_body: body };
    }
    return { ok: true, message_body: body, sender_number: opened.sender!.toString('utf8') };
  } catch (error) {
    const data = toErrorData(error);
    return {
      ok: false,
      error: data.code === 'CRYPTO_FAILURE' ? data : { code: 'CRYPTO_FAILURE', message: data.message },
    };
  }
}

/** Every number under every pepper, in the order given (active pepper first). */
export function hashBatch(peppers: readonly Buffer[], numbers: readonly string[]): string[][] {
  assertArray(numbers, 'numbers');
  return numbers.map((number, i) => {
    if (typeof number !== 'string') throw new BrokerError('INVALID_PAYLOAD', `numbers[${i}] is not a string`);
    return peppers.map((pepper) => hashNumber(pepper, number));
  });
}

function assertSealInput(item: SealInput, i: number): void {
  // The payload crossed a thread boundary untyped; a wrong shape is a caller's bug, and
  // sealing `undefined` as the string "undefined" would store garbage without a sound.
  if (
    !item ||
    typeof item.message_id !== 'string' ||
    item.message_id === '' ||
    typeof item.message_body !== 'string' ||
    typeof item.sender_number !== 'string'
  ) {
    throw new BrokerError('INVALID_PAYLOAD', `seal item ${i} needs message_id, sender_number and message_body strings`);
  }
}

function assertArray(value: unknown, name: string): void {
  if (!Array.isArray(value)) throw new BrokerError('INVALID_PAYLOAD', `${name} must be an array`);
}
