/**
 * Naming the tenant of an account (#17). Accounts are per domain, so one email may have
 * an account in several domains and one among the superadmins; where an email alone is
 * ambiguous — the sign-in form's optional domain, `mb user … --domain` — people name the
 * account by its domain, and the superadmins' by `*` (how `mb user list` shows them).
 */

/** The name of "no domain": a superadmin's account. */
export const SUPERADMIN_DOMAIN = '*';

/**
 * What a typed domain selects: undefined for nothing typed (every account of the email),
 * null for `*` (the superadmin account), else that domain.
 */
export function accountDomainOf(typed: string | undefined): string | null | undefined {
  const domain = typed?.trim() ?? '';
  if (domain === '') return undefined;
  return domain === SUPERADMIN_DOMAIN ? null : domain;
}

/** The account's domain as people type it. */
export function accountDomainLabel(domain: string | null): string {
  return domain ?? SUPERADMIN_DOMAIN;
}
