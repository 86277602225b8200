/**
 * Request metrics for the whole front: one synchronous `onResponse` hook (no promise per
 * request) counts every answer by method, route pattern and status and observes its
 * duration. Messages are counted by the submit routes, which know how many a request
 * carried and whether it was a replay: queued ones where they are queued, refused ones
 * where every error is answered (sendError) or in the batch's item results.
 */
import type { FastifyInstance } from 'fastify';
import { observeRequest, seedSeries, UNMATCHED_ENDPOINT } from '../metrics/front.metrics.js';

export function instrumentRequests(app: FastifyInstance, domains: readonly string[]): void {
  seedSeries(domains);
  app.addHook('onResponse', (request, reply, done) => {
    // The route pattern, never the raw URL: ids and probes must not explode the series.
    const endpoint = request.routeOptions.url ?? UNMATCHED_ENDPOINT;
    observeRequest(request.method, endpoint, reply.statusCode, reply.elapsedTime / 1000);
    done();
  });
}
