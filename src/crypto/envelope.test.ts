import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BrokerError } from '../errors.js';
import { envelopeKeyId, NONCE_BYTES, openEnvelope, sealEnvelope, TAG_BYTES, toBuffer } from './envelope.js';

const key = randomBytes(32);
const keys = new Map([['k1', key]]);
const lookup = (id: string) => keys.get(id);
const aad = Buffer.from('0b1e6a3c-5d2f-4c1a-9e8b-7f6a5d4c3b2a');
const plaintext = Buffer.from('Hello, world — ☃ 🚀 שלום');

function expectCryptoFailure(run: () => unknown): void {
  let caught: unknown;
  try {
    run();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(BrokerError);
  expect((caught as BrokerError).code).toBe('CRYPTO_FAILURE');
}

/** Offsets inside a `k1` envelope. */
const NONCE_AT = 2 + 2;
const TAG_AT = NONCE_AT + NONCE_BYTES;
const BODY_AT = TAG_AT + TAG_BYTES;

describe('envelope', () => {
  it('round-trips and has the documented layout', () => {
    const envelope = sealEnvelope(key, 'k1', plaintext, aad);
    expect(envelope[0]).toBe(1);
    expect(envelope[1]).toBe(2);
    expect(envelope.toString('latin1', 2, 4)).toBe('k1');
    expect(envelope.length).toBe(BODY_AT + plaintext.length);
    expect(envelopeKeyId(envelope)).toBe('k1');
    expect(openEnvelope(lookup, envelope, aad).equals(plaintext)).toBe(true);
  });

  it('round-trips an empty plaintext', () => {
    const envelope = sealEnvelope(key, 'k1', Buffer.alloc(0), aad);
    expect(openEnvelope(lookup, envelope, aad).length).toBe(0);
  });

  it('opens a Uint8Array view at an offset (as it arrives from a MessagePort)', () => {
    const envelope = sealEnvelope(key, 'k1', plaintext, aad);
    const arena = new Uint8Array(envelope.length + 10);
    arena.set(envelope, 7);
    const view = arena.subarray(7, 7 + envelope.length);
    expect(openEnvelope(lookup, toBuffer(view), aad).equals(plaintext)).toBe(true);
  });

  it('gives each seal a fresh nonce, so equal plaintexts differ', () => {
    const a = sealEnvelope(key, 'k1', plaintext, aad);
    const b = sealEnvelope(key, 'k1', plaintext, aad);
    expect(a.equals(b)).toBe(false);
    expect(a.subarray(NONCE_AT, TAG_AT).equals(b.subarray(NONCE_AT, TAG_AT))).toBe(false);
  });

  it('owns its memory (never a slice of the shared Buffer pool)', () => {
    const envelope = sealEnvelope(key, 'k1', plaintext, aad);
    expect(envelope.byteOffset).toBe(0);
    expect(envelope.buffer.byteLength).toBe(envelope.length);
  });

  it.each([
    ['ciphertext', BODY_AT + 3],
    ['tag', TAG_AT + 5],
    ['nonce', NONCE_AT + 1],
    ['key id', 3],
  ])('refuses a flipped bit in the %s', (_part, at) => {
    const envelope = sealEnvelope(key, 'k1', plaintext, aad);
    envelope[at]! ^= 0x01;
    expectCryptoFailure(() => openEnvelope(lookup, envelope, aad));
  });

  it('refuses another message id as AAD', () => {
    const envelope = sealEnvelope(key, 'k1', plaintext, aad);
    expectCryptoFailure(() => openEnvelope(lookup, envelope, Buffer.from('another-message-id')));
  });

  it('refuses an unknown key id, and the right key under another id', () => {
    const envelope = sealEnvelope(key, 'k9', plaintext, aad);
    expectCryptoFailure(() => openEnvelope(lookup, envelope, aad));
    const relabelled = Buffer.from(envelope);
    relabelled.write('k1', 2, 'latin1');
    const both = (id: string) => (id === 'k1' || id === 'k9' ? key : undefined);
    expectCryptoFailure(() => openEnvelope(both, relabelled, aad)); // the header is authenticated
  });

  it('refuses an unknown version', () => {
    const envelope = sealEnvelope(key, 'k1', plaintext, aad);
    envelope[0] = 2;
    expectCryptoFailure(() => openEnvelope(lookup, envelope, aad));
    expectCryptoFailure(() => envelopeKeyId(envelope));
  });

  it('refuses every truncation', () => {
    const envelope = sealEnvelope(key, 'k1', plaintext, aad);
    for (let length = 0; length < envelope.length; length++) {
      expectCryptoFailure(() => openEnvelope(lookup, envelope.subarray(0, length), aad));
    }
  });

  it('refuses a key that is not 32 bytes or a key id that is not short ASCII', () => {
    expectCryptoFailure(() => sealEnvelope(randomBytes(16), 'k1', plaintext, aad));
    expectCryptoFailure(() => sealEnvelope(key, 'clé', plaintext, aad));
    expectCryptoFailure(() => sealEnvelope(key, 'k'.repeat(65), plaintext, aad));
  });
});
