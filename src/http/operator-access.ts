/**
 * Who is an operator of the whole installation, for `/metrics` and health details: these
 * describe every tenant (client names, serials, volumes, downstream addresses), so a
 * tenant's own credentials must not open them.
 *
 *   - the socket's peer is loopback (127.0.0.0/8, ::1), unless `metrics.allow_loopback` is off;
 *   - a registered, valid client certificate of our CA whose full CN is a metrics identity
 *     (`metrics.client_names`, each in a domain that accepts no messages: see config.ts).
 *
 * The socket's address, never X-Forwarded-For: the front trusts no proxy headers.
 */
import type { FastifyRequest } from 'fastify';
import type { BrokerConfig } from '../config/config.js';
import { isMetricsIdentity } from '../config/config.js';
import { BrokerError } from '../errors.js';
import type { IdentityResolver } from './client-identity.js';
import { checkClientCertificate } from './require-client.js';

export function isLoopback(ip: string): boolean {
  return ip === '::1' || /^(?:::ffff:)?127\./.test(ip);
}

export function fromTrustedLoopback(config: Readonly<BrokerConfig>, request: FastifyRequest): boolean {
  return config.metrics.allow_loopback && isLoopback(request.socket.remoteAddress ?? '');
}

/**
 * Passes for loopback or a metrics identity; otherwise throws what the caller should hear:
 * 401 without (or with a foreign) certificate, 403 with a revoked/unknown one or one that
 * is not a metrics identity.
 */
export async function requireOperator(
  config: Readonly<BrokerConfig>,
  identity: IdentityResolver,
  request: FastifyRequest,
): Promise<void> {
  if (fromTrustedLoopback(config, request)) return;
  const client = await checkClientCertificate(identity, request);
  if (!isMetricsIdentity(config, client.common_name)) throw new BrokerError('METRICS_FORBIDDEN');
}

/** The same decision as a yes/no, for routes that answer everyone but show operators more. */
export async function isOperator(
  config: Readonly<BrokerConfig>,
  identity: IdentityResolver,
  request: FastifyRequest,
): Promise<boolean> {
  if (fromTrustedLoopback(config, request)) return true;
  try {
    const client = await identity.resolve(request.raw.socket);
    return isMetricsIdentity(config, client.common_name);
  } catch {
    return false; // no, a foreign, revoked or unknown certificate: not an operator
  }
}
