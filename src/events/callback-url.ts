/**
 * What a status callback URL must be, wherever one is set: the portal's client page, the
 * admin API, `mb client callback` and `domains[].status_callback.url`. A URL stored
 * without this check once reached every broker's delivery actor, whose `new URL()` threw
 * and stopped it for all tenants: parse here, before anything is saved.
 */
export const MAX_CALLBACK_URL_LENGTH = 2048;

/** Why `url` cannot be a status callback URL, or undefined when it can. */
export function callbackUrlProblem(url: string): string | undefined {
  if (url.length > MAX_CALLBACK_URL_LENGTH) return `must be at most ${MAX_CALLBACK_URL_LENGTH} characters`;
  if (/\s/u.test(url)) return 'must not contain spaces';
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'is not a valid URL';
  }
  if (parsed.protocol !== 'https:') return 'must be an https:// URL';
  if (parsed.hostname === '') return 'must name a host';
  // Dropped by the HTTP client, and a password would sit in the database and the portal.
  if (parsed.username !== '' || parsed.password !== '')
    return 'must not carry a user name or password (callbacks are signed with the domain’s status_callback.secret)';
  return undefined;
}

/** The host of a URL for logs and audit entries (a path or query may carry a token); the text itself if it is no URL. */
export function callbackHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url.slice(0, 64);
  }
}

/** A domain's callback settings, as far as who may point callbacks where. */
export interface DomainCallbackHosts {
  /** The domain's default receiver (`status_callback.url`), '' when none. */
  url: string;
  /** `status_callback.allowed_hosts`: `name` or `name:port`. */
  allowed_hosts: readonly string[];
}

/**
 * Why a domain's own admin may not point a client's callbacks at `url`, or undefined when
 * they may: only at the host of the domain's `status_callback.url` or one of its
 * `allowed_hosts`, the hosts the operator named for the domain. Any other https URL was
 * accepted, so a tenant's admin could have the broker POST, from inside the operator's
 * network, to an internal service (169.254.169.254, a database's port, an admin API):
 * the broker's network is the operator's, not the tenant's. A superadmin (the operator)
 * and `mb client callback` may name any host.
 */
export function tenantCallbackHostProblem(domain: DomainCallbackHosts, url: string): string | undefined {
  const names = tenantCallbackHosts(domain);
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    return 'is not a valid URL';
  }
  if (hostListed(names, target)) return undefined;
  const listed = names.length === 0 ? 'none' : names.join(', ');
  return `host ${target.host} is not one the domain's status_callback names (${listed}): only a superadmin may send callbacks elsewhere`;
}

/** The hosts a domain's own admin may point its clients' callbacks at. */
export function tenantCallbackHosts(domain: DomainCallbackHosts): string[] {
  const names = [...domain.allowed_hosts];
  if (domain.url !== '') names.push(callbackHost(domain.url));
  return [...new Set(names)];
}

/** Whether `target` is on a listed host: `name` allows any port of it, `name:port` that port only. */
export function hostListed(names: readonly string[], target: URL): boolean {
  const listed = new Set(names.map((name) => name.toLowerCase()));
  return listed.has(target.hostname.toLowerCase()) || listed.has(target.host.toLowerCase());
}
