/**
 * `POST /api/v1/messages/batch`: up to 100 messages, each validated on its own, the valid
 * ones made durable in one step (one `enqueue-n` call inside the ingest actor's group
 * commit), answered 207 with one result per item.
 *
 * Limits: each valid item counts one request against the rate limit and one message
 * against the daily quota, in order; items beyond what is left are refused (429 in their
 * result) while the earlier ones are queued. Invalid items count for nothing.
 * Idempotency-Key: covers the whole batch. A replay re-validates the same body (same
 * hash, hence same item errors) and merges the recorded outcomes of the valid items.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ValidationResult } from 'fastify';
import type { NewMessage } from '../ingest/ingest.types.js';
import { BrokerError, errorBody, type ErrorBody } from '../errors.js';
import { countEnqueued, countRefusedMessage } from '../metrics/front.metrics.js';
import { parseIdempotencyRecord, type ItemOutcome } from '../queue/idempotency-record.js';
import { REFUSED_BY_QUOTA } from '../queue/stream-writer.js';
import { invalidPayload } from './error-handler.js';
import { idempotencyOf, replay } from './idempotency.js';
import {
  BATCH_MAX_ITEMS,
  batchBody,
  batchBodyDocumented,
  batchResponse,
  type BatchBody,
  type BatchItemResult,
} from './messages-batch.schemas.js';
import {
  errorResponses,
  mutualTls,
  submitHeaders,
  submitMessageBody,
  type SubmitMessageBody,
} from './messages.schemas.js';
import {
  acceptingDomain,
  enqueueRequest,
  newMessage,
  chooseRouteFor,
  refuseInvalid,
  rememberCallbacks,
  type MessagesRouteDeps,
} from './submit-support.js';
import type { DomainConfig } from '../config/config.js';
import type { RouteChoice } from '../routing/route-choice.js';
import { refuseCallbackUrl } from './message-callbacks.js';
import { requireClient } from './require-client.js';
import { applyRateHeaders, quotaExceeded, rateLimited, throttledItemError } from './throttle.js';
import { clientLimitsOf, type ClientLimits } from '../limits/client-limits.js';

type Validate = ((input: unknown) => boolean) & { errors?: ValidationResult[] | null };

export function registerBatchRoute(app: FastifyInstance, deps: MessagesRouteDeps): void {
  app.post<{ Body: BatchBody }>(
    '/api/v1/messages/batch',
    {
      onRequest: requireClient(deps.identity),
      attachValidation: true,
      // A batch carries up to 100 messages, each within the single-message limit.
      bodyLimit: deps.config.current().server.body_limit_bytes * BATCH_MAX_ITEMS,
      // The route validates the envelope only; the document shows the items' full schema.
      config: { swaggerTransform: ({ schema, url }) => ({ schema: { ...schema, body: batchBodyDocumented }, url }) },
      schema: {
        summary: 'Submit up to 100 messages',
        description:
          'Each item is validated on its own; the valid ones are made durable together before the answer. Always 207 for a well-formed ' +
          "envelope: read each item's status. Each valid item counts one request against the rate limit and one message against the quota. " +
          'Each item is routed on its own (request headers, its sender prefix, its metadata): an item no route takes gets 422 NO_ROUTE in its result and is not queued.',
        tags: ['messages'],
        security: mutualTls,
        headers: submitHeaders,
        body: batchBody,
        response: { 207: batchResponse, ...errorResponses },
      },
    },
    async (request, reply) => {
      const client = request.client!;
      const idempotency = idempotencyOf(request);
      if (request.validationError) return refuseInvalid(deps, request, reply, idempotency);
      const domain = acceptingDomain(deps, client);
      const timestamp = new Date().toISOString();
      // An item naming a callback host the domain does not allow, or that no route takes, is
      // refused like any invalid item (422 in its result: NO_ROUTE for the latter).
      const allowed = validateItems(request, request.body.messages).map((check) =>
        check instanceof BrokerError || check.callback_url === undefined
          ? check
          : (refuseCallbackUrl(domain, check.callback_url) ?? check),
      );
      const checks = routeItems(domain, request, allowed);
      const limits = clientLimitsOf(domain, client.common_name);
      const callbacks: Array<{ message_id: string; url: string }> = [];
      const valid = checks.flatMap((check) => {
        if (check instanceof BrokerError) return [];
        const message = newMessage(check.body, timestamp, check.route);
        if (check.body.callback_url !== undefined)
          callbacks.push({ message_id: message.message_id, url: check.body.callback_url });
        return [message];
      });
      await rememberCallbacks(deps, client, callbacks);
      if (valid.length === 0) {
        const body = batchResult(checks, [], request.id, timestamp, limits);
        return refuseInvalid(deps, request, reply, idempotency, { status: 207, body }, () =>
          countMessages(client.domain, body.results),
        );
      }
      const outcome = await deps.ingest.enqueue(enqueueRequest(request, client, idempotency, timestamp, valid));
      if (outcome.kind === 'reused') throw new BrokerError('IDEMPOTENCY_KEY_REUSED');
      if (outcome.kind === 'replay') {
        return replay(request, reply, idempotency!, parseIdempotencyRecord(outcome.record), (record) => {
          if (record.items.length !== valid.length)
            throw new BrokerError('INTERNAL_ERROR', 'idempotency record does not match the batch');
          return {
            status: 207,
            body: batchResult(checks, record.items, record.tracking_id, record.timestamp, limits),
          };
        });
      }
      applyRateHeaders(reply, outcome.rate);
      const items = outcome.positions.map((position, i) => itemOutcome(valid[i]!, position));
      const body = batchResult(checks, items, request.id, timestamp, limits);
      countMessages(client.domain, body.results);
      setRetryAfter(reply, items, outcome);
      request.log.info(
        {
          client_id: client.client_id,
          client: client.common_name,
          domain: client.domain,
          accepted: body.accepted,
          refused: body.refused,
        },
        'batch queued',
      );
      return reply.code(207).send(body);
    },
  );
}

/** Each valid item with its route, or NO_ROUTE. */
function routeItems(
  domain: DomainConfig,
  request: FastifyRequest,
  checks: Array<SubmitMessageBody | BrokerError>,
): Array<RoutedItem | BrokerError> {
  return checks.map((check) => {
    if (check instanceof BrokerError) return check;
    const route = chooseRouteFor(domain, request, check);
    return route ? { body: check, route } : new BrokerError('NO_ROUTE');
  });
}

interface RoutedItem {
  body: SubmitMessageBody;
  route: RouteChoice;
}

/** Each item against the submit schema: the message, or the error naming its fields. */
function validateItems(request: FastifyRequest, items: unknown[]): Array<SubmitMessageBody | BrokerError> {
  const validate = request.compileValidationSchema(submitMessageBody, 'body') as Validate;
  return items.map((item) => (validate(item) ? (item as SubmitMessageBody) : invalidPayload(validate.errors ?? [])));
}

function itemOutcome(message: NewMessage, position: number): ItemOutcome {
  if (position > 0) return { ok: true, message_id: message.message_id, queued_at: message.queued_at, position };
  return { ok: false, code: position === REFUSED_BY_QUOTA ? 'QUOTA_EXCEEDED' : 'TOO_MANY_REQUESTS' };
}

/** The 207 body: item errors in order, valid items' outcomes merged in their places. */
function batchResult(
  checks: Array<RoutedItem | BrokerError>,
  outcomes: ItemOutcome[],
  trackingId: string,
  timestamp: string,
  limits: ClientLimits,
) {
  let next = 0;
  const results = checks.map((check, index): BatchItemResult => {
    if (check instanceof BrokerError) return { index, status: 422, error: errorBody(check, trackingId, timestamp) };
    const outcome = outcomes[next++]!;
    if (outcome.ok)
      return {
        index,
        status: 202,
        message_id: outcome.message_id,
        queued_at: outcome.queued_at,
        position: outcome.position,
      };
    return {
      index,
      status: 429,
      error: errorBody(throttledItemError(outcome.code, limits, timestamp), trackingId, timestamp),
    };
  });
  const accepted = results.filter((r) => r.status === 202).length;
  return { accepted, refused: results.length - accepted, results };
}

/**
 * Each item of a batch answered afresh (not a replay), as the single route counts a
 * message: queued, or refused under its item's error code.
 */
function countMessages(domain: string, results: BatchItemResult[]): void {
  let queued = 0;
  for (const result of results) {
    if (result.status === 202) queued++;
    else countRefusedMessage((result.error as ErrorBody).error_code);
  }
  if (queued > 0) countEnqueued(domain, queued);
}

/** Throttled items: Retry-After for the longest wait among them, and the metric. */
function setRetryAfter(
  reply: FastifyReply,
  items: ItemOutcome[],
  outcome: { rate: Parameters<typeof rateLimited>[1]; quota: Parameters<typeof quotaExceeded>[1] },
): void {
  const overQuota = items.filter((i) => !i.ok && i.code === 'QUOTA_EXCEEDED').length;
  const overRate = items.filter((i) => !i.ok && i.code === 'TOO_MANY_REQUESTS').length;
  // Both set Retry-After; the quota's (until midnight) is the longer wait, so it goes last.
  if (overRate > 0) rateLimited(reply, outcome.rate, overRate);
  if (overQuota > 0) quotaExceeded(reply, outcome.quota, overQuota);
}
