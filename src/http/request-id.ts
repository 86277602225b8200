/**
 * The ids a response carries: X-Request-Id is always the broker's tracking id (unique per
 * request, what the error schema calls `tracking_id`); a client's own X-Request-Id, when
 * sane, is echoed apart as X-Client-Request-Id and logged as `client_request_id`.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/** The client's own X-Request-Id when it is sane (echoed and logged, never the tracking id). */
export function clientRequestId(headers: IncomingHttpHeaders): string | undefined {
  const given = headers['x-request-id'];
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : undefined;
}

/** Puts both ids on the reply (buildServer's onRequest hook; sendError for answers given before it ran). */
export function setRequestIdHeaders(request: FastifyRequest, reply: FastifyReply): void {
  void reply.header('x-request-id', request.id);
  const clientId = clientRequestId(request.headers);
  if (clientId) void reply.header('x-client-request-id', clientId);
}
