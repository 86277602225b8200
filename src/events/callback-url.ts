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
