/**
 * Who may see what. Every portal query and every object lookup goes through a Scope:
 *
 *   user        their own client's messages (nothing else)
 *   admin       everything of their domain: messages, users, clients, certificates,
 *               dead letters, stats, audit log
 *   superadmin  every domain
 *
 * An object outside the scope is answered exactly like one that does not exist (404), so
 * changing an id in the URL tells nobody whether another tenant's object is there.
 */
import type { UserRole } from '../db/schema.js';

export type Scope =
  | { kind: 'all' }
  | { kind: 'domain'; domain: string }
  | { kind: 'client'; domain: string; clientId: number }
  /** A user whose client or an admin whose domain is not set: sees nothing. */
  | { kind: 'none' };

export interface ScopedUser {
  role: UserRole;
  domain: string | null;
  client_id: number | null;
}

export function scopeOf(user: ScopedUser): Scope {
  if (user.role === 'superadmin') return { kind: 'all' };
  if (user.role === 'admin') return user.domain ? { kind: 'domain', domain: user.domain } : { kind: 'none' };
  return user.domain && user.client_id !== null
    ? { kind: 'client', domain: user.domain, clientId: user.client_id }
    : { kind: 'none' };
}

export function isAdmin(user: Pick<ScopedUser, 'role'>): boolean {
  return user.role === 'admin' || user.role === 'superadmin';
}

/** May this scope administer objects of `domain` (users, clients, certificates, dead letters)? */
export function administersDomain(scope: Scope, domain: string | null | undefined): boolean {
  if (scope.kind === 'all') return true;
  return scope.kind === 'domain' && domain !== null && domain !== undefined && scope.domain === domain;
}

/** May this scope read a message of that client and domain? */
export function seesMessage(scope: Scope, message: { client_id: number; domain: string }): boolean {
  switch (scope.kind) {
    case 'all':
      return true;
    case 'domain':
      return scope.domain === message.domain;
    case 'client':
      return scope.clientId === message.client_id && scope.domain === message.domain;
    case 'none':
      return false;
  }
}

/** The message filter a scope imposes; undefined when the scope sees nothing at all. */
export function messageFilterOf(
  scope: Scope,
  chosenDomain?: string,
): { clientId?: number; domain?: string } | undefined {
  switch (scope.kind) {
    case 'all':
      return chosenDomain ? { domain: chosenDomain } : {};
    case 'domain':
      return { domain: scope.domain };
    case 'client':
      return { clientId: scope.clientId, domain: scope.domain };
    case 'none':
      return undefined;
  }
}

/** The domain filter for admin lists: one domain, or (superadmin) the chosen one or all. */
export function adminDomainFilter(scope: Scope, chosenDomain?: string): { domain?: string } | undefined {
  if (scope.kind === 'all') return chosenDomain ? { domain: chosenDomain } : {};
  if (scope.kind === 'domain') return { domain: scope.domain };
  return undefined;
}

/** The roles a scope may hand out: an admin makes users and admins of their domain, only a superadmin makes superadmins. */
export function grantableRoles(scope: Scope): UserRole[] {
  if (scope.kind === 'all') return ['user', 'admin', 'superadmin'];
  if (scope.kind === 'domain') return ['user', 'admin'];
  return [];
}
