import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BrokerError } from '../errors.js';
import type { OpenInput, SealInput } from './crypto.types.js';
import { EncryptionService } from './encryption.service.js';
import { envelopeKeyId, envelopeVersion, openEnvelope, sealEnvelope } from './envelope.js';
import { KeyStore } from './key-store.js';
import { hashNumber } from './number-hash.js';

let dir: string;
let store: KeyStore;
let service: EncryptionService;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mb-encryption-'));
  store = await KeyStore.loadOrCreate(join(dir, 'secrets'));
  service = new EncryptionService(store);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Bodies of every shape the API accepts: long, emoji, right-to-left, mixed scripts. */
function sampleMessages(count: number): SealInput[] {
  const bodies = [
    'x'.repeat(1000),
    '🚀'.repeat(1000),
    'مرحبا بالعالم — שלום עולם',
    'Mixed: ñ ü 中文 👩‍👩‍👧‍👦 \u200f RTL mark',
    'short',
  ];
  return Array.from({ length: count }, (_, i) => ({
    message_id: randomUUID(),
    sender_number: `+1${String(5550000000 + i).padStart(10, '0')}`,
    message_body: `${bodies[i % bodies.length]} #${i}`,
  }));
}

/** As the items arrive over a MessagePort: plain Uint8Arrays, not Buffers. */
function asPortBytes(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

describe('EncryptionService', () => {
  it('seals and opens a batch of 1000 (long, emoji and RTL bodies)', () => {
    const messages = sampleMessages(1000);
    const sealed = service.seal(messages);
    expect(sealed).toHaveLength(1000);
    sealed.forEach((s, i) => {
      const m = messages[i]!;
      expect(s.key_id).toBe('k1');
      expect(s.pepper_id).toBe('p1');
      expect(envelopeKeyId(Buffer.from(s.body_enc))).toBe('k1');
      expect(s.sender_hash).toBe(hashNumber(store.activePepper().pepper, m.sender_number));
      expect(s.sender_masked).toMatch(/^\+\d{3}\*{4}\d{4}$/);
      // No run of the plaintext survives into the ciphertext.
      const body = Buffer.from(s.body_enc);
      expect(body.includes(Buffer.from(m.message_body.slice(0, 16)))).toBe(false);
      expect(body.includes(Buffer.from(m.sender_number))).toBe(false);
    });
    const opened = service.open(
      sealed.map((s, i) => ({
        message_id: messages[i]!.message_id,
        body_enc: asPortBytes(s.body_enc),
        sender_enc: asPortBytes(s.sender_enc),
      })),
    );
    opened.forEach((o, i) => {
      expect(o).toEqual({
        ok: true,
        message_body: messages[i]!.message_body,
        sender_number: messages[i]!.sender_number,
      });
    });
  });

  it("puts a batch's envelopes in one buffer that holds nothing else", () => {
    const sealed = service.seal(sampleMessages(10));
    const buffer = sealed[0]!.body_enc.buffer;
    let total = 0;
    for (const s of sealed) {
      expect(s.body_enc.buffer).toBe(buffer);
      total += s.body_enc.byteLength;
    }
    expect(buffer.byteLength).toBe(total);
  });

  it('seals number and body in one v2 envelope: sender_enc is empty, the number opens from body_enc', () => {
    const messages = sampleMessages(3);
    const sealed = service.seal(messages);
    sealed.forEach((s, i) => {
      expect(envelopeVersion(Buffer.from(s.body_enc))).toBe(2);
      expect(s.sender_enc.byteLength).toBe(0);
      // Sender length prefix + number + body, nothing else (no second envelope's overhead).
      const m = messages[i]!;
      expect(s.body_enc.byteLength).toBe(
        2 + 2 + 12 + 16 + 2 + Buffer.byteLength(m.sender_number) + Buffer.byteLength(m.message_body),
      );
    });
    const opened = service.open(
      sealed.map((s, i) => ({
        message_id: messages[i]!.message_id,
        body_enc: s.body_enc,
        sender_enc: new Uint8Array(0),
      })),
    );
    expect(opened).toEqual(
      messages.map((m) => ({ ok: true, message_body: m.message_body, sender_number: m.sender_number })),
    );
  });

  it('seals two v1 envelopes when told to (secrets.envelope_version: 1, for older brokers beside it)', () => {
    const messages = sampleMessages(3);
    const sealed = new EncryptionService(store, 1).seal(messages);
    sealed.forEach((s, i) => {
      expect(envelopeVersion(Buffer.from(s.body_enc))).toBe(1);
      expect(envelopeVersion(Buffer.from(s.sender_enc))).toBe(1);
      expect(s.body_enc.buffer).toBe(sealed[0]!.body_enc.buffer);
      expect(s.sender_enc.byteLength).toBe(2 + 2 + 12 + 16 + Buffer.byteLength(messages[i]!.sender_number));
    });
    // What a broker before v2 does with them: each envelope opens as the field it holds.
    const { id, key } = store.activeKey();
    const lookup = (keyId: string) => (keyId === id ? key : undefined);
    const aad = Buffer.from(messages[0]!.message_id);
    expect(openEnvelope(lookup, Buffer.from(sealed[0]!.body_enc), aad).toString()).toBe(messages[0]!.message_body);
    expect(openEnvelope(lookup, Buffer.from(sealed[0]!.sender_enc), aad).toString()).toBe(messages[0]!.sender_number);
    expect(
      service.open(
        sealed.map((s, i) => ({ message_id: messages[i]!.message_id, body_enc: s.body_enc, sender_enc: s.sender_enc })),
      ),
    ).toEqual(messages.map((m) => ({ ok: true, message_body: m.message_body, sender_number: m.sender_number })));
  });

  it('opens v1 rows (body and number in two envelopes), with and without the number', () => {
    const [m] = sampleMessages(1);
    const { id, key } = store.activeKey();
    const aad = Buffer.from(m!.message_id);
    const body_enc = sealEnvelope(key, id, Buffer.from(m!.message_body), aad);
    const sender_enc = sealEnvelope(key, id, Buffer.from(m!.sender_number), aad);
    expect(service.open([{ message_id: m!.message_id, body_enc, sender_enc }])).toEqual([
      { ok: true, message_body: m!.message_body, sender_number: m!.sender_number },
    ]);
    expect(service.open([{ message_id: m!.message_id, body_enc }])).toEqual([
      { ok: true, message_body: m!.message_body },
    ]);
    // A v1 body without its number envelope, where the number is asked for: refused, not ''.
    expect(service.open([{ message_id: m!.message_id, body_enc, sender_enc: new Uint8Array(0) }])[0]).toMatchObject({
      ok: false,
      error: { code: 'CRYPTO_FAILURE' },
    });
  });

  it('refuses a v2 envelope with a second envelope beside it', () => {
    const messages = sampleMessages(2);
    const [a, b] = service.seal(messages);
    const { id, key } = store.activeKey();
    const v1Sender = sealEnvelope(
      key,
      id,
      Buffer.from(messages[0]!.sender_number),
      Buffer.from(messages[0]!.message_id),
    );
    for (const sender_enc of [v1Sender, b!.body_enc]) {
      expect(
        service.open([{ message_id: messages[0]!.message_id, body_enc: a!.body_enc, sender_enc }])[0],
      ).toMatchObject({
        ok: false,
        error: { code: 'CRYPTO_FAILURE' },
      });
    }
  });

  it('opens the body alone when no sender_enc is given', () => {
    const [m] = sampleMessages(1);
    const [s] = service.seal([m!]);
    expect(service.open([{ message_id: m!.message_id, body_enc: s!.body_enc, sender_enc: null }])).toEqual([
      { ok: true, message_body: m!.message_body },
    ]);
  });

  it('fails a body moved to another message id, item by item, without failing the batch', () => {
    const messages = sampleMessages(3);
    const sealed = service.seal(messages);
    const items: OpenInput[] = messages.map((m, i) => ({ message_id: m.message_id, body_enc: sealed[i]!.body_enc }));
    // Swap the bodies of rows 0 and 1.
    [items[0]!.body_enc, items[1]!.body_enc] = [items[1]!.body_enc, items[0]!.body_enc];
    items.push({ message_id: 'x', body_enc: new Uint8Array([1, 2, 3]) });
    const opened = service.open(items);
    expect(opened[0]).toMatchObject({ ok: false, error: { code: 'CRYPTO_FAILURE' } });
    expect(opened[1]).toMatchObject({ ok: false, error: { code: 'CRYPTO_FAILURE' } });
    expect(opened[2]).toEqual({ ok: true, message_body: messages[2]!.message_body });
    expect(opened[3]).toMatchObject({ ok: false, error: { code: 'CRYPTO_FAILURE' } });
  });

  it('refuses a seal item of the wrong shape', () => {
    const bad = [{ message_id: 'm1', sender_number: '+12345678901' }] as unknown as SealInput[];
    expect(() => service.seal(bad)).toThrow(BrokerError);
  });

  it('seals under the new key after a rotation and still opens the old rows', async () => {
    const [before] = sampleMessages(1);
    const [sealedBefore] = service.seal([before!]);
    await store.rotateDataKey();
    const [after] = sampleMessages(1);
    const [sealedAfter] = service.seal([after!]);
    expect(sealedAfter!.key_id).toBe('k2');
    const opened = service.open([
      { message_id: before!.message_id, body_enc: sealedBefore!.body_enc },
      { message_id: after!.message_id, body_enc: sealedAfter!.body_enc },
    ]);
    expect(opened.map((o) => o.ok && o.message_body)).toEqual([before!.message_body, after!.message_body]);
  });

  it('hashes under every pepper after a rotation, the active one first', async () => {
    const number = '+12345678901';
    const [[onlyP1]] = service.hash([number]) as [[string]];
    expect(service.seal([{ message_id: 'm', sender_number: number, message_body: 'b' }])[0]!.sender_hash).toBe(onlyP1);
    await store.rotatePepper();
    const [hashes] = service.hash([number]);
    expect(hashes).toHaveLength(2);
    expect(hashes![1]).toBe(onlyP1); // rows hashed under p1 are still found
    expect(hashes![0]).not.toBe(onlyP1);
    const sealed = service.seal([{ message_id: 'm', sender_number: number, message_body: 'b' }])[0]!;
    expect(sealed).toMatchObject({ pepper_id: 'p2', sender_hash: hashes![0] });
  });
});
