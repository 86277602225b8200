/**
 * `GET /api/v1/messages/{message_id}`: where one of the caller's own messages is.
 *
 * A message is first in its domain's stream (and queued index) and, milliseconds later,
 * in MySQL. The index is read first, in the same round trip that counts the request
 * against the rate limit: if the message is there it is answered from Redis (queued,
 * not yet stored), which also works while MySQL is down; otherwise MySQL has the truth.
 * That order matters: delivery drops the index entry only after the row is committed,
 * so "not in the index" means "in MySQL, or never existed".
 *
 * The answer names the target and route the message was given at submit.
 *
 * Another client's message and a malformed id answer 404 like an unknown one: the
 * answer must not tell whether someone else's id exists.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { MessageRow } from '../db/schema.js';
import { BrokerError } from '../errors.js';
import { clientLimitsOf } from '../limits/client-limits.js';
import { BATCH_ROUTE } from '../metrics/front.metrics.js';
import { clientKeys, domainKeys } from '../queue/keys.js';
import { takeRateAndFindQueued } from '../queue/message-lookup.js';
import type { ClientIdentity } from './client-identity.js';
import { methodNotAllowed } from './error-handler.js';
import { errorResponses, mutualTls } from './messages.schemas.js';
import { statusParams, statusResponse, type MessageStatusView } from './message-status.schemas.js';
import { requireClient } from './require-client.js';
import type { MessagesRouteDeps } from './submit-support.js';
import { applyRateHeaders, rateLimited } from './throttle.js';
import { describeError } from '../db/database.js';

/**
 * `GET /api/v1/messages/batch` matches `:message_id` (the router has no GET for the static
 * path): it is the batch route asked with the wrong method, so 405 as for any other path,
 * not "No such message".
 */
function refuseBatchPath(request: FastifyRequest, reply: FastifyReply, done: (error?: Error) => void): void {
  if ((request.params as { message_id?: string }).message_id !== 'batch') done();
  else done(methodNotAllowed(request, reply, BATCH_ROUTE, ['POST']));
}

export function registerStatusRoute(app: FastifyInstance, deps: MessagesRouteDeps): void {
  const notFound = () => new BrokerError('NOT_FOUND', 'No such message');

  app.get<{ Params: { message_id: string } }>(
    '/api/v1/messages/:message_id',
    {
      // Before the certificate check: a wrong method is a 405 to anyone, as elsewhere.
      onRequest: [refuseBatchPath, requireClient(deps.identity)],
      attachValidation: true,
      schema: {
        summary: 'Look up one of your messages',
        description: 'Counts one request against the rate limit (not the quota).',
        tags: ['messages'],
        security: mutualTls,
        params: statusParams,
        response: { 200: statusResponse, ...errorResponses },
      },
    },
    async (request, reply) => {
      if (request.validationError) throw notFound();
      const client = request.client!;
      const domain = deps.config.domain(client.domain);
      if (!domain) throw new BrokerError('UNKNOWN_DOMAIN');
      const messageId = request.params.message_id.toLowerCase();
      const clientLimits = clientLimitsOf(domain, client.common_name);
      let lookup: Awaited<ReturnType<typeof takeRateAndFindQueued>>;
      try {
        const prefix = deps.config.current().redis.key_prefix;
        lookup = await takeRateAndFindQueued(deps.redis, {
          limitsKey: clientKeys(prefix, domain, client.client_id).limits,
          limit: clientLimits.rateLimit,
          windowMs: clientLimits.rateWindowMs,
          queuedKey: domainKeys(prefix, domain).queued,
          messageId,
        });
      } catch (error) {
        request.log.warn({ err: (error as Error).message }, 'status lookup: redis failed');
        throw new BrokerError('QUEUE_UNAVAILABLE', 'The message queue is unavailable; try again');
      }
      const rate = lookup.rate && {
        limit: clientLimits.rateLimit,
        remaining: Math.max(0, clientLimits.rateLimit - lookup.rate.used),
        reset_ms: lookup.rate.resetMs,
        window_ms: clientLimits.rateWindowMs,
      };
      applyRateHeaders(reply, rate);
      if (lookup.rate && !lookup.rate.allowed) throw rateLimited(reply, rate);

      if (lookup.queued) {
        if (lookup.queued.client_id !== client.client_id) throw notFound();
        const { queued_at, target, route } = lookup.queued;
        // An index entry of before routing names no target: the domain's default one.
        return reply.send(queuedView(messageId, client, queued_at, target ?? domain.target.name, route ?? null));
      }
      let row: MessageRow | undefined;
      try {
        row = await deps.messages.findOne(messageId);
      } catch (error) {
        request.log.warn({ err: describeError(error) }, 'status lookup: mysql failed');
        throw new BrokerError('STORAGE_UNAVAILABLE');
      }
      if (!row || row.client_id !== client.client_id) throw notFound();
      return reply.send(storedView(row, client));
    },
  );
}

function queuedView(
  messageId: string,
  client: ClientIdentity,
  queuedAt: string,
  target: string,
  route: string | null,
): MessageStatusView {
  return {
    message_id: messageId,
    status: 'queued',
    client_id: client.common_name,
    attempt_count: 0,
    queued_at: queuedAt,
    stored_at: null,
    delivered_at: null,
    next_attempt_at: null,
    last_error: null,
    target,
    route,
  };
}

function storedView(row: MessageRow, client: ClientIdentity): MessageStatusView {
  return {
    message_id: row.message_id,
    status: row.status,
    client_id: client.common_name,
    attempt_count: row.attempt_count,
    queued_at: row.queued_at.toISOString(),
    stored_at: row.created_at.toISOString(),
    delivered_at: row.delivered_at?.toISOString() ?? null,
    next_attempt_at: row.status === 'queued' ? (row.next_attempt_at?.toISOString() ?? null) : null,
    // Only for a failed message: a transient error of a retry under way is the broker's business.
    last_error: row.status === 'failed' ? row.last_error : null,
    target: row.target,
    route: row.route,
  };
}
