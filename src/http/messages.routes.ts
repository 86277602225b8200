/**
 * `POST /api/v1/messages`: validate, then one atomic step in Redis (Idempotency-Key,
 * daily quota, rate limit, append), then — only once Redis has it — 202. The batch and
 * status routes live beside this one and are registered from here.
 */
import type { FastifyInstance } from 'fastify';
import { BrokerError } from '../errors.js';
import { countEnqueued } from '../metrics/front.metrics.js';
import { parseIdempotencyRecord } from '../queue/idempotency-record.js';
import { REFUSED_BY_QUOTA } from '../queue/stream-writer.js';
import type { ClientIdentity } from './client-identity.js';
import { idempotencyOf, replay } from './idempotency.js';
import { registerBatchRoute } from './messages-batch.routes.js';
import {
  acceptedResponse,
  errorResponses,
  mutualTls,
  submitHeaders,
  submitMessageBody,
  type SubmitMessageBody,
} from './messages.schemas.js';
import { registerStatusRoute } from './message-status.routes.js';
import { requireClient } from './require-client.js';
import { applyRateHeaders, quotaExceeded, rateLimited } from './throttle.js';
import {
  acceptingDomain,
  enqueueRequest,
  newMessage,
  refuseInvalid,
  routeOf,
  rememberCallbacks,
  type MessagesRouteDeps,
} from './submit-support.js';
import { refuseCallbackUrl } from './message-callbacks.js';

export type { MessagesRouteDeps } from './submit-support.js';

export function registerMessageRoutes(app: FastifyInstance, deps: MessagesRouteDeps): void {
  app.post<{ Body: SubmitMessageBody }>(
    '/api/v1/messages',
    {
      onRequest: requireClient(deps.identity),
      // Validation errors come to the handler: with an Idempotency-Key they are remembered too.
      attachValidation: true,
      schema: {
        summary: 'Submit a message',
        description:
          'Answers 202 once the message is durable in the queue. Counts one request against the rate limit and one message against the daily quota. ' +
          "The domain's routes pick the message's target now, from a request header the domain names (e.g. X-Region, values from its allow-list), the sender number's prefix or a metadata value; " +
          'when none matches and the domain has no default route the answer is 422 NO_ROUTE and nothing is queued. The status lookup shows the route and target chosen.',
        tags: ['messages'],
        security: mutualTls,
        headers: submitHeaders,
        body: submitMessageBody,
        response: { 202: acceptedResponse, ...errorResponses },
      },
    },
    async (request, reply) => {
      const client = request.client!;
      const idempotency = idempotencyOf(request);
      if (request.validationError) return refuseInvalid(deps, request, reply, idempotency);
      const domain = acceptingDomain(deps, client);
      const callbackUrl = request.body.callback_url;
      if (callbackUrl !== undefined) {
        const refusal = refuseCallbackUrl(domain, callbackUrl);
        if (refusal) throw refusal;
      }
      const timestamp = new Date().toISOString();
      const route = routeOf(domain, request, request.body);
      const message = newMessage(request.body, timestamp, route);
      if (callbackUrl !== undefined)
        await rememberCallbacks(deps, client, [{ message_id: message.message_id, url: callbackUrl }]);
      const outcome = await deps.ingest.enqueue(enqueueRequest(request, client, idempotency, timestamp, [message]));
      if (outcome.kind === 'reused') throw new BrokerError('IDEMPOTENCY_KEY_REUSED');
      if (outcome.kind === 'replay') {
        return replay(request, reply, idempotency!, parseIdempotencyRecord(outcome.record), ({ items: [item] }) => {
          if (!item?.ok) throw new BrokerError('INTERNAL_ERROR', 'idempotency record without the accepted message');
          return { status: 202, body: accepted(item.message_id, client, item.queued_at, item.position) };
        });
      }
      applyRateHeaders(reply, outcome.rate);
      const position = outcome.positions[0]!;
      if (position === REFUSED_BY_QUOTA) throw quotaExceeded(reply, outcome.quota);
      if (position < 0) throw rateLimited(reply, outcome.rate);
      request.log.info(
        {
          message_id: message.message_id,
          client_id: client.client_id,
          // The CN, as the API and the other log lines name a client: what an operator searches for.
          client: client.common_name,
          domain: domain.name,
          route: route.route,
          target: route.target,
        },
        'message queued',
      );
      countEnqueued(domain.name);
      return reply.code(202).send(accepted(message.message_id, client, message.queued_at, position));
    },
  );
  registerBatchRoute(app, deps);
  registerStatusRoute(app, deps);
}

function accepted(message_id: string, client: ClientIdentity, queued_at: string, position: number) {
  return { message_id, status: 'queued' as const, client_id: client.common_name, queued_at, position };
}
