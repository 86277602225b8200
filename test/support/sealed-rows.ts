/** Message rows sealed with a real key store, as the delivery actor would store them. */
import { randomUUID } from 'node:crypto';
import { EncryptionService } from '../../src/crypto/encryption.service.js';
import { sealEnvelope } from '../../src/crypto/envelope.js';
import type { KeyStore } from '../../src/crypto/key-store.js';
import type { NewMessageRow } from '../../src/db/schema.js';

export interface Plain {
  message_id: string;
  sender_number: string;
  message_body: string;
}

export function sealedRows(
  store: KeyStore,
  count: number,
  overrides: Partial<NewMessageRow> = {},
): { rows: NewMessageRow[]; plain: Plain[] } {
  const plain: Plain[] = Array.from({ length: count }, (_, i) => ({
    message_id: randomUUID(),
    sender_number: `+1415555${String(1000 + (i % 9000)).padStart(4, '0')}`,
    message_body: `body ${i} ✓ ${randomUUID()}`,
  }));
  const sealed = new EncryptionService(store).seal(plain);
  const rows = sealed.map(
    (s, i): NewMessageRow => ({
      message_id: plain[i]!.message_id,
      client_id: 1,
      domain: 'default',
      sender_hash: s.sender_hash,
      pepper_id: s.pepper_id,
      sender_masked: s.sender_masked,
      sender_enc: Buffer.from(s.sender_enc),
      body_enc: Buffer.from(s.body_enc),
      key_id: s.key_id,
      status: 'delivered',
      queued_at: new Date(),
      ...overrides,
    }),
  );
  return { rows, plain };
}

/**
 * The same rows as a broker before envelope v2 stored them: body and number in two v1
 * envelopes (`body_enc`, `sender_enc`), for the tests that prove old rows still open.
 */
export function sealedRowsV1(
  store: KeyStore,
  count: number,
  overrides: Partial<NewMessageRow> = {},
): { rows: NewMessageRow[]; plain: Plain[] } {
  const { rows, plain } = sealedRows(store, count, overrides);
  const { id, key } = store.activeKey();
  return {
    rows: rows.map((row, i) => {
      const aad = Buffer.from(plain[i]!.message_id, 'utf8');
      return {
        ...row,
        body_enc: sealEnvelope(key, id, Buffer.from(plain[i]!.message_body, 'utf8'), aad),
        sender_enc: sealEnvelope(key, id, Buffer.from(plain[i]!.sender_number, 'utf8'), aad),
        key_id: id,
      };
    }),
    plain,
  };
}
