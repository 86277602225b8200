/**
 * `GET /metrics` for Prometheus. Who may read it:
 *   - a scrape from loopback (127.0.0.0/8, ::1), unless `metrics.allow_loopback` is off;
 *   - a client certificate of our CA, registered and valid, whose client name is in
 *     `metrics.client_names` (default `metrics`, in any domain: CN `metrics.<domain>`).
 * Anyone else gets the error schema: 401 without (or with a foreign) certificate, 403 with
 * a revoked/unknown one or one that is not a metrics identity. The numbers hold no message
 * content, but they do describe traffic per domain: not for the public.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { BrokerError } from '../errors.js';
import type { IdentityResolver } from './client-identity.js';
import { checkClientCertificate } from './require-client.js';

export interface MetricsEndpoint {
  render(): Promise<string>;
  contentType: string;
}

export interface MetricsAccess {
  allowLoopback: boolean;
  clientNames: readonly string[];
}

export function isLoopback(ip: string): boolean {
  return ip === '::1' || /^(?:::ffff:)?127\./.test(ip);
}

export function registerMetricsRoute(
  app: FastifyInstance,
  metrics: MetricsEndpoint,
  identity: IdentityResolver,
  access: MetricsAccess,
): void {
  const allowed = new Set(access.clientNames);
  const authorize = async (request: FastifyRequest): Promise<void> => {
    // The socket's address, not X-Forwarded-For: the front trusts no proxy headers.
    if (access.allowLoopback && isLoopback(request.socket.remoteAddress ?? '')) return;
    const client = await checkClientCertificate(identity, request);
    if (!allowed.has(client.client_name)) throw new BrokerError('METRICS_FORBIDDEN');
  };

  app.get('/metrics', { onRequest: authorize }, async (_request, reply) => {
    const text = await metrics.render();
    return reply.type(metrics.contentType).send(text);
  });
}
