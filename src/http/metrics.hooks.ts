/**
 * Request metrics for the whole front: one synchronous `onResponse` hook (no promise per
 * request) counts every answer by method, route pattern and status and observes its
 * duration. Refused submissions are counted where every error is answered (sendError).
 */
import type { FastifyInstance } from 'fastify';
import {
  countEnqueued,
  initDomains,
  MESSAGES_ROUTE,
  observeRequest,
  UNMATCHED_ENDPOINT,
} from '../metrics/front.metrics.js';

export function instrumentRequests(app: FastifyInstance, domains: readonly string[]): void {
  initDomains(domains);
  app.addHook('onResponse', (request, reply, done) => {
    // The route pattern, never the raw URL: ids and probes must not explode the series.
    const endpoint = request.routeOptions.url ?? UNMATCHED_ENDPOINT;
    observeRequest(request.method, endpoint, reply.statusCode, reply.elapsedTime / 1000);
    if (reply.statusCode === 202 && endpoint === MESSAGES_ROUTE && request.client) countEnqueued(request.client.domain);
    done();
  });
}
