/**
 * `GET /metrics` for Prometheus. Who may read it: an operator of the whole installation
 * (`operator-access.ts`): a scrape from loopback unless `metrics.allow_loopback` is off, or
 * a client certificate of our CA whose full CN is in `metrics.client_names` (e.g.
 * `metrics.ops`, in a domain that accepts no messages). Anyone else gets the error schema:
 * 401 without (or with a foreign) certificate, 403 with a revoked/unknown one or one that
 * is not a metrics identity. The numbers hold no message content, but they do describe
 * every tenant's clients and traffic: not for the public, nor for one tenant's admin.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { LiveConfig } from '../config/live-config.js';
import type { IdentityResolver } from './client-identity.js';
import { requireOperator } from './operator-access.js';

export { isLoopback } from './operator-access.js';

export interface MetricsEndpoint {
  render(): Promise<string>;
  contentType: string;
}

export function registerMetricsRoute(
  app: FastifyInstance,
  metrics: MetricsEndpoint,
  identity: IdentityResolver,
  config: LiveConfig,
): void {
  const authorize = (request: FastifyRequest): Promise<void> => requireOperator(config.current(), identity, request);

  app.get('/metrics', { onRequest: authorize }, async (_request, reply) => {
    const text = await metrics.render();
    return reply.type(metrics.contentType).send(text);
  });
}
