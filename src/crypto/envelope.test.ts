import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BrokerError } from '../errors.js';
import {
  envelopeKeyId,
  envelopeVersion,
  messageEnvelopeLength,
  NONCE_BYTES,
  openEnvelope,
  openMessage,
  sealedPairParses,
  sealEnvelope,
  sealMessage,
  TAG_BYTES,
  toBuffer,
} from './envelope.js';

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
    envelope[0] = 3;
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

describe('message envelope (v2: number and body in one)', () => {
  const number = '+447700900123';
  const body = 'Hello, world — ☃ 🚀 שלום';
  const open = (envelope: Buffer, senderEnc?: Buffer | null, withAad = aad) =>
    openMessage(lookup, envelope, senderEnc, withAad);

  it('round-trips and has the documented layout', () => {
    const envelope = sealMessage(key, 'k1', number, body, aad);
    expect(envelope[0]).toBe(2);
    expect(envelope.toString('latin1', 2, 4)).toBe('k1');
    expect(envelope.length).toBe(messageEnvelopeLength('k1', number.length, Buffer.byteLength(body)));
    expect(envelope.length).toBe(BODY_AT + 2 + number.length + Buffer.byteLength(body));
    expect(envelopeVersion(envelope)).toBe(2);
    expect(envelopeKeyId(envelope)).toBe('k1');
    for (const senderEnc of [undefined, null, Buffer.alloc(0)]) {
      const opened = open(envelope, senderEnc);
      expect(opened.body.toString('utf8')).toBe(body);
      expect(opened.sender?.toString('utf8')).toBe(number);
    }
    expect(envelope.includes(Buffer.from(number))).toBe(false);
    expect(envelope.includes(Buffer.from('Hello'))).toBe(false);
  });

  it('seals the same bytes from strings and from Buffers (re-encryption passes bytes)', () => {
    const fromBuffers = open(sealMessage(key, 'k1', Buffer.from(number), Buffer.from(body), aad));
    expect(fromBuffers.body.toString('utf8')).toBe(body);
    expect(fromBuffers.sender?.toString('utf8')).toBe(number);
  });

  it('round-trips an empty number and an empty body, and a string AAD', () => {
    const opened = open(sealMessage(key, 'k1', '', '', aad.toString('utf8')));
    expect(opened.body.length).toBe(0);
    expect(opened.sender?.length).toBe(0);
  });

  it('opens v1 envelopes too: the body alone, or body and number', () => {
    const bodyEnc = sealEnvelope(key, 'k1', Buffer.from(body), aad);
    const senderEnc = sealEnvelope(key, 'k1', Buffer.from(number), aad);
    expect(open(bodyEnc).sender).toBeUndefined();
    expect(open(bodyEnc).body.toString('utf8')).toBe(body);
    const both = open(bodyEnc, senderEnc);
    expect([both.body.toString('utf8'), both.sender?.toString('utf8')]).toEqual([body, number]);
    // A v1 body with a v2 envelope (or anything else) in the number's place does not open.
    expectCryptoFailure(() => open(bodyEnc, sealMessage(key, 'k1', number, body, aad)));
    expectCryptoFailure(() => open(bodyEnc, Buffer.alloc(0)));
  });

  it('is refused by openEnvelope (its plaintext is a framed message, not a field)', () => {
    expectCryptoFailure(() => openEnvelope(lookup, sealMessage(key, 'k1', number, body, aad), aad));
  });

  it('refuses a second envelope beside it', () => {
    const envelope = sealMessage(key, 'k1', number, body, aad);
    expectCryptoFailure(() => open(envelope, sealEnvelope(key, 'k1', Buffer.from(number), aad)));
    expectCryptoFailure(() => open(envelope, Buffer.from([0])));
  });

  it.each([
    ['ciphertext', BODY_AT + 1],
    ['tag', TAG_AT + 5],
    ['nonce', NONCE_AT + 1],
    ['key id', 3],
  ])('refuses a flipped bit in the %s', (_part, at) => {
    const envelope = sealMessage(key, 'k1', number, body, aad);
    envelope[at]! ^= 0x01;
    expectCryptoFailure(() => open(envelope));
  });

  it('refuses its version byte set to 1, and a v1 envelope relabelled 2 (the version is authenticated)', () => {
    const v2 = sealMessage(key, 'k1', number, body, aad);
    v2[0] = 1;
    expectCryptoFailure(() => open(v2));
    expectCryptoFailure(() => openEnvelope(lookup, v2, aad));
    // A v1 envelope whose plaintext happens to frame a message must not pass as v2.
    const framed = Buffer.concat([Buffer.from([0, number.length]), Buffer.from(number), Buffer.from(body)]);
    const v1 = sealEnvelope(key, 'k1', framed, aad);
    v1[0] = 2;
    expectCryptoFailure(() => open(v1));
  });

  it('refuses another message id as AAD, and every truncation', () => {
    const envelope = sealMessage(key, 'k1', number, body, aad);
    expectCryptoFailure(() => open(envelope, undefined, Buffer.from('another-message-id')));
    for (let length = 0; length < envelope.length; length++) {
      expectCryptoFailure(() => open(envelope.subarray(0, length)));
    }
  });

  it('refuses a number longer than its 2-byte length can say', () => {
    expect(() => sealMessage(key, 'k1', '1'.repeat(0x10000), body, aad)).toThrow(BrokerError);
  });

  it('tells which field pairs can open (stream entries are checked before they are stored)', () => {
    const v2 = sealMessage(key, 'k1', number, body, aad);
    const v1 = sealEnvelope(key, 'k1', Buffer.from(body), aad);
    expect(sealedPairParses(v2, Buffer.alloc(0))).toBe(true);
    expect(sealedPairParses(v1, v1)).toBe(true);
    expect(sealedPairParses(v2, v1)).toBe(false);
    expect(sealedPairParses(v1, Buffer.alloc(0))).toBe(false);
    expect(sealedPairParses(v1, v2)).toBe(false);
    expect(sealedPairParses(Buffer.from([9, 1, 65]), Buffer.alloc(0))).toBe(false);
  });
});
