/**
 * A message's own `callback_url` (submit body, single and batch): allowed only towards
 * the hosts its domain lists (`domains[].status_callback.allowed_hosts`, as `name` or
 * `name:port`) and when the domain can sign callbacks. Remembered in Redis before the
 * append (src/queue/status-callbacks.ts), so its first event finds it.
 */
import type { DomainConfig } from '../config/config.js';
import { BrokerError } from '../errors.js';
import { callbackUrlProblem, hostListed } from '../events/callback-url.js';

/** Why `url` may not be used in `domain`; undefined when it may. */
export function refuseCallbackUrl(domain: DomainConfig, url: string): BrokerError | undefined {
  const { allowed_hosts: allowed, secret } = domain.status_callback;
  let host: URL;
  try {
    host = new URL(url);
  } catch {
    return invalid('callback_url is not a URL');
  }
  if (host.protocol !== 'https:') return invalid('callback_url must be https://');
  // The rules of every other callback URL (a user name or password would be dropped by the
  // HTTP client, and would sit in Redis meanwhile).
  const problem = callbackUrlProblem(url);
  if (problem) return invalid(`callback_url ${problem}`, 'url');
  if (secret === '' || allowed.length === 0) return invalid('This domain accepts no per-message callback_url');
  if (!hostListed(allowed, host))
    return invalid(`callback_url host ${host.host} is not among the domain's allowed callback hosts`);
  return undefined;
}

function invalid(message: string, rule = 'allowed_hosts'): BrokerError {
  return new BrokerError('INVALID_PAYLOAD', message, [{ field: 'callback_url', rule, message }]);
}
