/**
 * The batch operations as pure functions of key material, shared by the inline path
 * (`EncryptionService`, on the actor thread) and the pool threads (`encryption.pool-task`).
 * Nothing here knows where the keys came from.
 */
import { BrokerError, toErrorData } from '../errors.js';
import type { OpenInput, OpenResult, SealedMessage, SealInput } from './crypto.types.js';
import { envelopeLength, openEnvelope, sealEnvelopeInto, toBuffer, type KeyLookup } from './envelope.js';
import { hashNumber, maskNumber } from './number-hash.js';

/** What sealing needs: the active data key and the active pepper. */
export interface SealMaterial {
  keyId: string;
  key: Buffer;
  pepperId: string;
  pepper: Buffer;
}

/**
 * Seals a batch. Every envelope of the batch is a view into one buffer that the batch owns
 * (ciphertexts of this batch only, nothing else of this thread): one allocation, and one
 * ArrayBuffer to clone across each thread hop instead of two per message. Receivers take
 * each view with its byteOffset/byteLength (`toBuffer`), never its `.buffer` whole.
 */
export function sealBatch(material: SealMaterial, items: readonly SealInput[]): SealedMessage[] {
  assertArray(items, 'items');
  const bodies = new Array<Buffer>(items.length);
  const senders = new Array<Buffer>(items.length);
  let total = 0;
  for (let i = 0; i < items.length; i++) {
    const item = items[i]!;
    assertSealInput(item, i);
    bodies[i] = Buffer.from(item.message_body, 'utf8');
    senders[i] = Buffer.from(item.sender_number, 'utf8');
    total += envelopeLength(material.keyId, bodies[i]!.length) + envelopeLength(material.keyId, senders[i]!.length);
  }
  // Not from Node's shared pool: this buffer crosses threads, a pooled slab would carry
  // whatever else this thread put in it.
  const arena = Buffer.allocUnsafeSlow(total);
  const out = new Array<SealedMessage>(items.length);
  let at = 0;
  for (let i = 0; i < items.length; i++) {
    const item = items[i]!;
    // The message id is the AAD of both envelopes: a ciphertext copied into another row fails to open.
    const aad = Buffer.from(item.message_id, 'utf8');
    const bodyAt = at;
    at = sealEnvelopeInto(arena, at, material.key, material.keyId, bodies[i]!, aad);
    const senderAt = at;
    at = sealEnvelopeInto(arena, at, material.key, material.keyId, senders[i]!, aad);
    out[i] = {
      body_enc: arena.subarray(bodyAt, senderAt),
      sender_enc: arena.subarray(senderAt, at),
      key_id: material.keyId,
      sender_hash: hashNumber(material.pepper, item.sender_number),
      pepper_id: material.pepperId,
      sender_masked: maskNumber(item.sender_number),
    };
  }
  return out;
}

/** One result per item: a row that fails to open must not hide the rest of the page. */
export function openBatch(lookupKey: KeyLookup, items: readonly OpenInput[]): OpenResult[] {
  assertArray(items, 'items');
  const out = new Array<OpenResult>(items.length);
  for (let i = 0; i < items.length; i++) {
    out[i] = openOne(lookupKey, items[i]!);
  }
  return out;
}

function openOne(lookupKey: KeyLookup, item: OpenInput): OpenResult {
  try {
    if (!item || typeof item.message_id !== 'string' || !(item.body_enc instanceof Uint8Array)) {
      throw new BrokerError('CRYPTO_FAILURE', 'open item needs a message_id and a body_enc');
    }
    const aad = Buffer.from(item.message_id, 'utf8');
    // Bytes off a MessagePort are plain Uint8Arrays: view them as Buffers, no copy.
    const body = openEnvelope(lookupKey, toBuffer(item.body_enc), aad).toString('utf8');
    if (item.sender_enc == null) return { ok: true, message_body: body };
    const sender = openEnvelope(lookupKey, toBuffer(item.sender_enc), aad).toString('utf8');
    return { ok: true, message_body: body, sender_number: sender };
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
