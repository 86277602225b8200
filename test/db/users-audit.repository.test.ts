import { describe, expect, it } from 'vitest';
import { AuditRepository } from '../../src/db/audit.repository.js';
import { isDuplicateKeyError } from '../../src/db/database.js';
import { UsersRepository } from '../../src/db/users.repository.js';
import { useTestDatabase } from '../support/test-fixtures.js';

const { handle } = useTestDatabase();
const users = new UsersRepository(handle.db);
const audit = new AuditRepository(handle.db);

describe('UsersRepository', () => {
  it('round-trips a user and its login bookkeeping', async () => {
    expect(await users.count()).toBe(0);
    const id = await users.create({
      email: 'Ops@Example.test',
      password_hash: '$scrypt$n=131072,r=8,p=1$salt$hash',
      role: 'admin',
      domain: 'example.test',
    });
    const created = await users.findById(id);
    expect(created).toMatchObject({
      email: 'Ops@Example.test',
      role: 'admin',
      client_id: null,
      token_version: 0,
      failed_logins: 0,
      disabled: false,
      locked_until: null,
    });
    expect((await users.findAccounts('ops@example.test'))[0]?.id).toBe(id);
    const duplicate = await users
      .create({ email: 'OPS@example.test', password_hash: 'x', role: 'user', domain: 'example.test' })
      .catch((e: unknown) => e);
    expect(isDuplicateKeyError(duplicate)).toBe(true);

    const lockUntil = new Date('2030-01-01T00:15:00.000Z');
    await users.recordFailedLogin(id);
    await users.recordFailedLogin(id, lockUntil);
    let user = await users.findById(id);
    expect(user?.failed_logins).toBe(2);
    expect(user?.locked_until?.toISOString()).toBe(lockUntil.toISOString());

    const loginAt = new Date('2030-01-01T01:00:00.123Z');
    await users.recordLogin(id, loginAt);
    user = await users.findById(id);
    expect(user).toMatchObject({ failed_logins: 0, locked_until: null });
    expect(user?.last_login_at?.toISOString()).toBe(loginAt.toISOString());
    expect(user!.updated_at.getTime()).toBeGreaterThanOrEqual(created!.updated_at.getTime());
  });

  it('revokes sessions by bumping token_version on logout, password change and disable', async () => {
    const id = await users.create({ email: 'u@example.test', password_hash: 'old', role: 'user', client_id: 7 });
    expect(await users.bumpTokenVersion(id)).toBe(1);
    await users.setPassword(id, 'new');
    expect(await users.findById(id)).toMatchObject({ password_hash: 'new', token_version: 2 });
    await users.setDisabled(id, true);
    expect(await users.findById(id)).toMatchObject({ disabled: true, token_version: 3 });
    await users.setDisabled(id, false);
    expect(await users.findById(id)).toMatchObject({ disabled: false, token_version: 3 });
    expect(await users.bumpTokenVersion(424_242)).toBeUndefined();

    expect((await users.list({ domain: 'example.test' })).map((u) => u.email)).toEqual(['Ops@Example.test']);
    expect(await users.list()).toHaveLength(2);
    expect(await users.count()).toBe(2);
  });

  it('keeps accounts per tenant: one per domain, one among superadmins (#17)', async () => {
    const account = (email: string, domain: string | null) =>
      users.create({ email, password_hash: 'x', role: domain === null ? 'superadmin' : 'admin', domain });
    const alpha = await account('same@example.test', 'alpha');
    const beta = await account('Same@Example.test', 'beta');
    const root = await account('SAME@example.test', null);
    for (const [domain, again] of [
      ['alpha', 'same@EXAMPLE.test'],
      [null, 'same@example.test'],
    ] as const) {
      // MySQL's UNIQUE ignores NULLs: the generated domain_key makes superadmins collide too.
      expect(isDuplicateKeyError(await account(again, domain).catch((e: unknown) => e)), String(domain)).toBe(true);
    }
    expect((await users.findAccounts('same@example.test')).map((u) => u.id)).toEqual([alpha, beta, root]);
    expect((await users.findAccount('same@example.test', 'beta'))?.id).toBe(beta);
    expect((await users.findAccount('same@example.test', null))?.id).toBe(root);
    expect(await users.findAccount('same@example.test', 'gamma')).toBeUndefined();
    expect((await users.findAccounts('same@example.test', 'alpha')).map((u) => u.id)).toEqual([alpha]);
  });

  it('gives back a reserved attempt, and the lock it set, unless the counter was reset since', async () => {
    const id = await users.create({ email: 'release@example.test', password_hash: 'x', role: 'admin', domain: 'a' });
    const now = new Date('2030-01-01T00:00:00.000Z');
    const policy = { maxFailures: 2, lockUntil: new Date('2030-01-01T00:15:00.000Z'), now };
    const first = (await users.reserveLoginAttempt(id, policy))!;
    const second = (await users.reserveLoginAttempt(id, policy))!;
    expect(second.lockedUntil).not.toBeNull();
    await users.releaseLoginAttempt(id, second);
    expect(await users.findById(id)).toMatchObject({ failed_logins: 1, locked_until: null });
    await users.recordLogin(id, now, first);
    // Reset by the sign-in: giving back the first attempt now would count one failure too few.
    await users.releaseLoginAttempt(id, first);
    expect(await users.findById(id)).toMatchObject({ failed_logins: 0, locked_until: null });
  });
});

describe('AuditRepository', () => {
  it('records entries and pages through them newest first', async () => {
    const ids: number[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push(
        await audit.record({
          actor: i % 2 === 0 ? 'cli' : 'user:12',
          action: 'certificate.revoke',
          target_type: 'certificate',
          target_id: `serial-${i}`,
          domain: i < 4 ? 'a.test' : 'b.test',
          ip: '2001:db8::1',
          details: { reason: 'keyCompromise', index: i, nested: { ok: true } },
        }),
      );
    }
    await audit.record({ actor: 'system', action: 'broker.start', target_type: 'broker' });

    const firstPage = await audit.list({ domain: 'a.test', limit: 3 });
    expect(firstPage.map((e) => e.target_id)).toEqual(['serial-3', 'serial-2', 'serial-1']);
    expect(firstPage[0]).toMatchObject({
      actor: 'user:12',
      ip: '2001:db8::1',
      details: { reason: 'keyCompromise', index: 3, nested: { ok: true } },
    });
    expect(firstPage[0]?.at).toBeInstanceOf(Date);
    const secondPage = await audit.list({ domain: 'a.test', limit: 3, beforeId: firstPage.at(-1)!.id });
    expect(secondPage.map((e) => e.target_id)).toEqual(['serial-0']);

    const all = await audit.list({ limit: 100 });
    expect(all).toHaveLength(6);
    expect(all[0]).toMatchObject({ action: 'broker.start', target_id: null, domain: null, details: null });
  });

  it('reserves sign-in attempts under the row lock: refused while locked, a counted one may still sign in', async () => {
    const id = await users.create({ email: 'race@example.test', password_hash: 'x', role: 'user', client_id: 7 });
    const now = new Date('2030-01-01T00:00:00.000Z');
    const lockUntil = new Date('2030-01-01T00:15:00.000Z');
    const policy = { maxFailures: 3, lockUntil, now };
    // Parallel reservations: each sees the ones before it; the third locks, the rest are refused.
    const reserved = await Promise.all(Array.from({ length: 6 }, () => users.reserveLoginAttempt(id, policy)));
    const granted = reserved.filter((r) => r !== undefined);
    expect(granted.map((r) => r.failedLogins).sort()).toEqual([1, 2, 3]);
    const last = granted.find((r) => r.failedLogins === 3)!;
    expect(last.lockedUntil?.toISOString()).toBe(lockUntil.toISOString());
    expect(await users.findById(id)).toMatchObject({ failed_logins: 3, locked_until: lockUntil });
    // An attempt counted in that lock may still sign in: without it the allowance was not used up.
    const first = granted.find((r) => r.failedLogins === 1)!;
    expect(await users.recordLogin(id, now, first)).toBe(true);
    expect(await users.findById(id)).toMatchObject({ failed_logins: 0, locked_until: null });
    // Not one reserved before a reset, once other attempts have locked the account again.
    await users.reserveLoginAttempt(id, policy);
    const second = (await users.reserveLoginAttempt(id, policy))!;
    await users.unlock(id);
    await users.recordFailedLogin(id, lockUntil);
    expect(await users.recordLogin(id, now, second)).toBe(false);
    await users.unlock(id);
    // After the lock has run out, one more attempt is allowed, and a failure locks again.
    await users.recordFailedLogin(id, lockUntil);
    await users.recordFailedLogin(id);
    await users.recordFailedLogin(id);
    expect(await users.reserveLoginAttempt(id, policy)).toBeUndefined();
    const later = new Date('2030-01-01T00:20:00.000Z');
    const relock = new Date('2030-01-01T00:35:00.000Z');
    expect(await users.reserveLoginAttempt(id, { maxFailures: 3, lockUntil: relock, now: later })).toEqual({
      failedLogins: 4,
      lockedUntil: relock,
    });
    expect(await users.reserveLoginAttempt(id, { maxFailures: 3, lockUntil: relock, now: later })).toBeUndefined();
  });
});
