import { describe, expect, it } from 'vitest';
import {
  administersDomain,
  adminDomainFilter,
  grantableRoles,
  messageFilterOf,
  scopeOf,
  seesMessage,
} from './tenant-scope.js';

const user = scopeOf({ role: 'user', domain: 'alpha', client_id: 1 });
const admin = scopeOf({ role: 'admin', domain: 'alpha', client_id: null });
const root = scopeOf({ role: 'superadmin', domain: null, client_id: null });

describe('tenant scope', () => {
  it('gives each role its reach', () => {
    expect(user).toEqual({ kind: 'client', domain: 'alpha', clientId: 1 });
    expect(admin).toEqual({ kind: 'domain', domain: 'alpha' });
    expect(root).toEqual({ kind: 'all' });
    // Half-configured accounts see nothing rather than everything.
    expect(scopeOf({ role: 'user', domain: 'alpha', client_id: null })).toEqual({ kind: 'none' });
    expect(scopeOf({ role: 'admin', domain: null, client_id: null })).toEqual({ kind: 'none' });
  });

  it('decides message visibility by client for users and by domain for admins', () => {
    const own = { client_id: 1, domain: 'alpha' };
    const sibling = { client_id: 2, domain: 'alpha' };
    const foreign = { client_id: 3, domain: 'beta' };
    expect([own, sibling, foreign].map((m) => seesMessage(user, m))).toEqual([true, false, false]);
    expect([own, sibling, foreign].map((m) => seesMessage(admin, m))).toEqual([true, true, false]);
    expect([own, sibling, foreign].map((m) => seesMessage(root, m))).toEqual([true, true, true]);
    expect(seesMessage({ kind: 'none' }, own)).toBe(false);
  });

  it('imposes the scope on every message query, whatever domain is asked for', () => {
    expect(messageFilterOf(user, 'beta')).toEqual({ clientId: 1, domain: 'alpha' });
    expect(messageFilterOf(admin, 'beta')).toEqual({ domain: 'alpha' });
    expect(messageFilterOf(root, 'beta')).toEqual({ domain: 'beta' });
    expect(messageFilterOf(root)).toEqual({});
    expect(messageFilterOf({ kind: 'none' })).toBeUndefined();
    expect(adminDomainFilter(admin, 'beta')).toEqual({ domain: 'alpha' });
    expect(adminDomainFilter(user)).toBeUndefined();
  });

  it('lets admins administer their domain only, and only superadmins hand out superadmin', () => {
    expect(administersDomain(admin, 'alpha')).toBe(true);
    expect(administersDomain(admin, 'beta')).toBe(false);
    expect(administersDomain(admin, null)).toBe(false);
    expect(administersDomain(user, 'alpha')).toBe(false);
    expect(administersDomain(root, null)).toBe(true);
    expect(grantableRoles(admin)).toEqual(['user', 'admin']);
    expect(grantableRoles(root)).toContain('superadmin');
    expect(grantableRoles(user)).toEqual([]);
  });
});
