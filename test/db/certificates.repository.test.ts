import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CertificatesRepository } from '../../src/db/certificates.repository.js';
import { ClientsRepository } from '../../src/db/clients.repository.js';
import { isDuplicateKeyError } from '../../src/db/database.js';
import type { NewCertificateRow } from '../../src/db/schema.js';
import { randomSerialHex } from '../../src/pki/serial.js';
import { useTestDatabase } from '../support/test-fixtures.js';

const { handle } = useTestDatabase({ poolSize: 4 });
const clients = new ClientsRepository(handle.db);
const certificates = new CertificatesRepository(handle.db);

const DAY = 86_400_000;

function certificateRow(clientId: number, overrides: Partial<NewCertificateRow> = {}): NewCertificateRow {
  return {
    serial: randomSerialHex(),
    client_id: clientId,
    fingerprint: randomBytes(32).toString('hex'),
    subject_cn: 'client',
    not_before: new Date(Date.now() - DAY),
    not_after: new Date(Date.now() + 90 * DAY),
    ...overrides,
  };
}

describe('ClientsRepository', () => {
  it('creates, finds, ensures and disables clients', async () => {
    const id = await clients.create({ name: 'acme', domain: 'shop.test' });
    expect(await clients.findById(id)).toMatchObject({ id, name: 'acme', domain: 'shop.test', status: 'active' });
    expect((await clients.findByNameAndDomain('acme', 'shop.test'))?.id).toBe(id);
    // Same name in another domain is another client.
    const other = await clients.ensure({ name: 'acme', domain: 'bank.test' });
    expect(other.id).not.toBe(id);
    expect((await clients.ensure({ name: 'acme', domain: 'shop.test' })).id).toBe(id);

    const raced = await Promise.all([1, 2, 3].map(() => clients.ensure({ name: 'racer', domain: 'shop.test' })));
    expect(new Set(raced.map((c) => c.id)).size).toBe(1);

    const duplicate = await clients.create({ name: 'acme', domain: 'shop.test' }).catch((e: unknown) => e);
    expect(isDuplicateKeyError(duplicate)).toBe(true);

    expect(await clients.setStatus(id, 'disabled')).toBe(true);
    expect(await clients.setStatus(id, 'disabled')).toBe(true);
    expect(await clients.setStatus(999_999, 'disabled')).toBe(false);
    expect((await clients.findById(id))?.status).toBe('disabled');
    expect((await clients.list({ domain: 'shop.test' })).map((c) => c.name)).toEqual(['acme', 'racer']);
    expect((await clients.list()).length).toBeGreaterThanOrEqual(3);
  });
});

describe('CertificatesRepository', () => {
  it('resolves a fingerprint to the certificate and its client in one row', async () => {
    const client = await clients.ensure({ name: 'ingest', domain: 'id.test' });
    const row = certificateRow(client.id);
    const certificateId = await certificates.insert(row);

    const identity = await certificates.findIdentityByFingerprint(row.fingerprint.toUpperCase());
    expect(identity).toEqual({
      certificate_id: certificateId,
      serial: row.serial,
      fingerprint: row.fingerprint,
      cert_status: 'active',
      not_before: row.not_before,
      not_after: row.not_after,
      client_id: client.id,
      client_name: 'ingest',
      domain: 'id.test',
      client_status: 'active',
    });
    expect(await certificates.findIdentityByFingerprint('0'.repeat(64))).toBeUndefined();
  });

  it("lists the identities of a client's active certificates only", async () => {
    const client = await clients.ensure({ name: 'renewed', domain: 'id.test' });
    const other = await clients.ensure({ name: 'bystander', domain: 'id.test' });
    const [old, current, theirs] = [certificateRow(client.id), certificateRow(client.id), certificateRow(other.id)];
    for (const row of [old, current, theirs]) await certificates.insert(row);
    await certificates.revoke(old.serial, 'superseded', new Date());
    const identities = await certificates.listActiveIdentitiesOfClient(client.id);
    expect(identities.map((i) => [i.fingerprint, i.cert_status, i.client_name])).toEqual([
      [current.fingerprint, 'active', 'renewed'],
    ]);
  });

  it('enforces unique fingerprints and serials, and a real client', async () => {
    const client = await clients.ensure({ name: 'unique', domain: 'id.test' });
    const row = certificateRow(client.id);
    await certificates.insert(row);
    const sameFingerprint = await certificates
      .insert(certificateRow(client.id, { fingerprint: row.fingerprint.toUpperCase() }))
      .catch((e: unknown) => e);
    expect(isDuplicateKeyError(sameFingerprint)).toBe(true);
    const sameSerial = await certificates
      .insert(certificateRow(client.id, { serial: row.serial }))
      .catch((e: unknown) => e);
    expect(isDuplicateKeyError(sameSerial)).toBe(true);
    const orphan = await certificates.insert(certificateRow(987_654)).catch((e: unknown) => e);
    expect(orphan).toBeInstanceOf(Error);
  });

  it('revokes once, lists revocations and active certificates', async () => {
    const client = await clients.ensure({ name: 'renewing', domain: 'crl.test' });
    const old = certificateRow(client.id, { not_after: new Date(Date.now() + 5 * DAY) });
    const renewed = certificateRow(client.id);
    await certificates.insert(old);
    await certificates.insert(renewed);
    // Renewal overlap: both active.
    expect((await certificates.listActiveForClient(client.id)).map((c) => c.serial)).toEqual([
      renewed.serial,
      old.serial,
    ]);

    const at = new Date('2030-03-03T03:03:03.333Z');
    const revoked = await certificates.revoke(old.serial.toUpperCase(), 'keyCompromise', at);
    expect(revoked).toMatchObject({ serial: old.serial, status: 'revoked', reason: 'keyCompromise' });
    expect(revoked?.revoked_at?.toISOString()).toBe(at.toISOString());
    expect(await certificates.revoke(old.serial, 'superseded', new Date())).toBeUndefined();
    expect(await certificates.revoke('ff'.repeat(16), 'superseded', new Date())).toBeUndefined();

    const crl = await certificates.listRevoked();
    expect(crl).toContainEqual({ serial: old.serial, revoked_at: at, reason: 'keyCompromise' });
    expect(crl.map((c) => c.serial)).not.toContain(renewed.serial);
    expect((await certificates.listActiveForClient(client.id)).map((c) => c.serial)).toEqual([renewed.serial]);
    expect((await certificates.findIdentityByFingerprint(old.fingerprint))?.cert_status).toBe('revoked');

    const listed = await certificates.list({ domain: 'crl.test' });
    expect(listed).toHaveLength(2);
    expect(listed[0]).toMatchObject({ client_name: 'renewing', domain: 'crl.test', client_id: client.id });
  });

  it('marks active certificates past not_after as expired', async () => {
    const client = await clients.ensure({ name: 'lapsed', domain: 'exp.test' });
    const lapsed = certificateRow(client.id, {
      not_before: new Date(Date.now() - 10 * DAY),
      not_after: new Date(Date.now() - DAY),
    });
    const current = certificateRow(client.id);
    await certificates.insert(lapsed);
    await certificates.insert(current);

    expect(await certificates.markExpired(new Date())).toBeGreaterThanOrEqual(1);
    expect((await certificates.findBySerial(lapsed.serial))?.status).toBe('expired');
    expect((await certificates.findBySerial(current.serial))?.status).toBe('active');
    expect(await certificates.markExpired(new Date())).toBe(0);
  });
});
