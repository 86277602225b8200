/**
 * What a client may be called. Its certificate's CN is `name.domain`, and a CN holds at
 * most 64 characters (ub-common-name, RFC 5280 appendix A; the signer refuses more), so
 * the longest name depends on its domain: checked here, before anything is written or
 * signed, so that the CA, the CLI, the admin API and the portal refuse it as the caller's
 * mistake (INVALID_PAYLOAD) instead of failing as the CA (CA_FAILURE, a 500).
 */
import { BrokerError } from '../errors.js';

/** The client part of `name.domain`: no dots, so a CN splits unambiguously at its first dot. */
export const CLIENT_NAME = /^[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?$/;

/** What CLIENT_NAME says, in words. */
export const CLIENT_NAME_RULE = 'A client name is 1–64 lowercase letters, digits, - or _ (no dots)';

/** ub-common-name. */
export const MAX_COMMON_NAME_LENGTH = 64;

/** Why `name` cannot name a client of `domain`, or undefined when it can. */
export function clientNameProblem(name: string, domain: string): string | undefined {
  if (!CLIENT_NAME.test(name)) return CLIENT_NAME_RULE;
  const commonName = `${name}.${domain}`;
  if (commonName.length <= MAX_COMMON_NAME_LENGTH) return undefined;
  const room = MAX_COMMON_NAME_LENGTH - domain.length - 1;
  return room < 1
    ? `Domain ${domain} is too long for any client: a certificate's common name (name.domain) holds at most ${MAX_COMMON_NAME_LENGTH} characters`
    : `${commonName} is ${commonName.length} characters; a certificate's common name holds at most ${MAX_COMMON_NAME_LENGTH}: in domain ${domain} a client name has at most ${room}`;
}

/** Throws INVALID_PAYLOAD when `name` cannot name a client of `domain`. */
export function assertClientName(name: string, domain: string): void {
  const problem = clientNameProblem(name, domain);
  if (problem !== undefined) throw new BrokerError('INVALID_PAYLOAD', problem);
}
