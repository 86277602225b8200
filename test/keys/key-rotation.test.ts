/**
 * Re-encryption and re-hash against a real MariaDB: every row ends under the active key
 * and pepper and still opens to the same plaintext; a run cut short resumes; rows changed
 * meanwhile are left alone; retirement refuses while anything still needs the key.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EncryptionService } from '../../src/crypto/encryption.service.js';
import { envelopeVersion } from '../../src/crypto/envelope.js';
import { KeyStore } from '../../src/crypto/key-store.js';
import { hashNumber } from '../../src/crypto/number-hash.js';
import { MessageKeysRepository } from '../../src/db/message-keys.repository.js';
import { MessagesRepository } from '../../src/db/messages.repository.js';
import type { InstanceReport } from '../../src/instances/instance-registry.js';
import { KeyRotationService } from '../../src/keys/key-rotation.service.js';
import { retirementBlockers } from '../../src/keys/key-retirement.js';
import { sealedRows, sealedRowsV1, type Plain } from '../support/sealed-rows.js';
import { useTestDatabase } from '../support/test-fixtures.js';

const { handle } = useTestDatabase();
const messages = new MessagesRepository(handle.db);
const repo = new MessageKeysRepository(handle.db);
let dir: string;
let store: KeyStore;
let plain: Plain[];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mb-rekey-'));
  store = await KeyStore.loadOrCreate(join(dir, 'secrets'));
  const sealed = sealedRows(store, 1200);
  plain = sealed.plain;
  await messages.insertBatch(sealed.rows);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function expectAllOpen(): Promise<void> {
  const rows = await messages.findByMessageIds(plain.map((p) => p.message_id));
  const opened = new EncryptionService(store).open(
    rows.map((r) => ({ message_id: r.message_id, body_enc: r.body_enc, sender_enc: r.sender_enc })),
  );
  const byId = new Map(plain.map((p) => [p.message_id, p]));
  rows.forEach((row, i) => {
    const result = opened[i]!;
    expect(result.ok).toBe(true);
    if (result.ok) {
      expect(result.message_body).toBe(byId.get(row.message_id)!.message_body);
      expect(result.sender_number).toBe(byId.get(row.message_id)!.sender_number);
    }
  });
}

const instance = (keys: Partial<NonNullable<InstanceReport['keys']>>): InstanceReport => ({
  instance_id: 'b1',
  host: 'h',
  pid: 1,
  version: 't',
  started_at: '',
  fingerprint: '',
  boot_id: '',
  seen_at: '',
  keys: {
    active_key_id: 'k2',
    key_ids: [],
    active_key_since: 0,
    pepper_id: 'p1',
    pepper_ids: [],
    active_pepper_since: 0,
    ...keys,
  },
});

describe('re-encryption', () => {
  it('resumes after a run that stopped part-way, and ends with every row under the new key', async () => {
    await store.rotateDataKey();
    const service = new KeyRotationService(store, repo);
    // A crash after the first batch: the progress callback throws.
    await expect(
      service.rewrite('key', {
        batchSize: 500,
        onProgress: () => {
          throw new Error('crash');
        },
      }),
    ).rejects.toThrow('crash');
    expect(await repo.countById('key_id')).toEqual({ k1: 700, k2: 500 });
    const report = await service.rewrite('key', { batchSize: 500 });
    expect(report).toMatchObject({ target: 'k2', rewritten: 700, skipped: 0, unreadable: 0 });
    expect(await repo.countById('key_id')).toEqual({ k2: 1200 });
    await expectAllOpen();
  });

  it('leaves a row alone that changed since it was read (optimistic update)', async () => {
    const [row] = await repo.pageUnder('key_id', 'k2', 0, 1);
    expect(
      await repo.replaceEnvelopes([{ id: row!.id, body_enc: row!.body_enc, sender_enc: row!.sender_enc }], 'k1', 'k3'),
    ).toBe(0);
  });

  it('reports rows that open with no key and keeps them under their id', async () => {
    const foreign = sealedRows(await KeyStore.loadOrCreate(join(dir, 'other')), 3);
    await messages.insertBatch(foreign.rows.map((r) => ({ ...r, key_id: 'k1' })));
    const report = await new KeyRotationService(store, repo).rewrite('key', { batchSize: 100 });
    expect(report.unreadable).toBe(3);
    expect(report.unreadable_examples.sort()).toEqual(foreign.plain.map((p) => p.message_id).sort());
    expect((await repo.countById('key_id')).k1).toBe(3);
    await handle.pool.query('DELETE FROM messages WHERE key_id = ?', ['k1']);
  });

  it('re-hashes every number under a new pepper', async () => {
    await store.rotatePepper();
    const report = await new KeyRotationService(store, repo).rewrite('pepper', { batchSize: 400 });
    expect(report).toMatchObject({ target: 'p2', rewritten: 1200, unreadable: 0 });
    const rows = await messages.findByMessageIds(plain.slice(0, 50).map((p) => p.message_id));
    const pepper = store.activePepper().pepper;
    for (const row of rows) {
      expect(row.pepper_id).toBe('p2');
      expect(row.sender_hash).toBe(
        hashNumber(pepper, plain.find((p) => p.message_id === row.message_id)!.sender_number),
      );
    }
  });
});

describe('retirement', () => {
  it('refuses the active key, a key a broker still uses or switched from moments ago, and a key rows use', async () => {
    const check = (instances: InstanceReport[], graceMs = 1000) =>
      retirementBlockers('key', 'k1', { store, repo, instances, graceMs, oldestUnstoredAt: null });
    expect(
      await retirementBlockers('key', 'k2', { store, repo, instances: [], graceMs: 0, oldestUnstoredAt: null }),
    ).toEqual([expect.stringMatching(/active/)]);
    expect(await check([instance({ active_key_id: 'k1' })])).toEqual([expect.stringMatching(/still uses k1/)]);
    expect(await check([instance({ active_key_since: Date.now() - 100 })])).toEqual([
      expect.stringMatching(/switched to k2/),
    ]);
    const { rows } = sealedRows(store, 1, { key_id: 'k1' });
    await messages.insertBatch(rows);
    expect(await check([instance({})])).toEqual([expect.stringMatching(/rows still use k1/)]);
    await handle.pool.query('DELETE FROM messages WHERE key_id = ?', ['k1']);
    expect(await check([instance({})])).toEqual([]);
    // A backlog queued before the switch (plus the grace) may hold entries sealed with k1.
    const since = Date.now() - 60_000;
    const backlog = (oldestUnstoredAt: number, instances = [instance({ active_key_since: since })]) =>
      retirementBlockers('key', 'k1', { store, repo, instances, graceMs: 1000, oldestUnstoredAt });
    expect(await backlog(since - 5000)).toEqual([expect.stringMatching(/not stored yet and may be sealed with k1/)]);
    expect(await backlog(since + 500)).toEqual([expect.stringMatching(/not stored yet/)]);
    expect(await backlog(since + 5000)).toEqual([]);
    // No broker reports: any backlog may use it.
    expect(await backlog(Date.now(), [])).toEqual([expect.stringMatching(/not stored yet/)]);
    expect(
      await retirementBlockers('pepper', 'p1', {
        store,
        repo,
        instances: [instance({ pepper_id: 'p2' })],
        graceMs: 0,
        oldestUnstoredAt: null,
      }),
    ).toEqual([]);
  });
});

describe('rows of envelope v1 (body and number in two envelopes, stored before v2)', () => {
  it('open as stored, re-hash from their number envelope, and re-encrypt into one v2 envelope', async () => {
    const old = sealedRowsV1(store, 30);
    await messages.insertBatch(old.rows);
    const byId = new Map(old.plain.map((p) => [p.message_id, p]));
    const expectOpen = async () => {
      const rows = await messages.findByMessageIds([...byId.keys()]);
      expect(rows).toHaveLength(30);
      const opened = new EncryptionService(store).open(
        rows.map((r) => ({ message_id: r.message_id, body_enc: r.body_enc, sender_enc: r.sender_enc })),
      );
      rows.forEach((row, i) => {
        const p = byId.get(row.message_id)!;
        expect(opened[i]).toEqual({ ok: true, message_body: p.message_body, sender_number: p.sender_number });
      });
      return rows;
    };
    for (const row of await expectOpen()) {
      expect(envelopeVersion(row.body_enc)).toBe(1);
      expect(envelopeVersion(row.sender_enc)).toBe(1);
    }
    await store.rotatePepper();
    const rehash = await new KeyRotationService(store, repo).rewrite('pepper', { batchSize: 100 });
    expect(rehash.unreadable).toBe(0);
    const pepper = store.activePepper().pepper;
    for (const row of await expectOpen())
      expect(row.sender_hash).toBe(hashNumber(pepper, byId.get(row.message_id)!.sender_number));
    await store.rotateDataKey();
    const reencrypt = await new KeyRotationService(store, repo).rewrite('key', { batchSize: 100 });
    expect(reencrypt.unreadable).toBe(0);
    for (const row of await expectOpen()) {
      expect(row.key_id).toBe(store.activeKey().id);
      expect(envelopeVersion(row.body_enc)).toBe(2);
      expect(row.sender_enc.length).toBe(0);
    }
    // secrets.envelope_version: 1 (older brokers beside this one) re-encrypts into v1.
    await store.rotateDataKey();
    const back = await new KeyRotationService(store, repo, 1).rewrite('key', { batchSize: 100 });
    expect(back.unreadable).toBe(0);
    for (const row of await expectOpen()) {
      expect(envelopeVersion(row.body_enc)).toBe(1);
      expect(envelopeVersion(row.sender_enc)).toBe(1);
    }
  });
});
