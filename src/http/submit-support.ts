/**
 * What the submit routes (single and batch) share: their dependencies, the domain check,
 * the request to the ingest actor, and the answer to a request refused before the queue.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import type { IngestClient } from '../actors/ingest/ingest.client.js';
import type { EnqueueRequest, NewMessage } from '../ingest/ingest.types.js';
import type { DomainConfig } from '../config/config.js';
import type { LiveConfig } from '../config/live-config.js';
import type { MessagesRepository } from '../db/messages.repository.js';
import { BrokerError, errorBody } from '../errors.js';
import { clientKeys } from '../queue/keys.js';
import { rememberMessageCallbacks } from '../queue/status-callbacks.js';
import type { ClientIdentity, IdentityResolver } from './client-identity.js';
import { sendError, toBrokerError } from './error-handler.js';
import { rememberRefusal, replay, type Idempotency } from './idempotency.js';
import type { SubmitMessageBody } from './messages.schemas.js';
import { chooseRoute, type RouteChoice } from '../routing/route-choice.js';
import { uuidV7 } from '../util/uuid.js';

export interface MessagesRouteDeps {
  /** The config in force: a reload switches domains on and off between two requests. */
  config: LiveConfig;
  identity: IdentityResolver;
  ingest: Pick<IngestClient, 'enqueue'>;
  /** The front's own connection: records of refused requests, status lookups. */
  redis: Redis;
  messages: Pick<MessagesRepository, 'findOne'>;
}

/** The client's domain, if it takes messages. */
export function acceptingDomain(deps: Pick<MessagesRouteDeps, 'config'>, client: ClientIdentity): DomainConfig {
  const domain = deps.config.domain(client.domain);
  if (!domain) throw new BrokerError('UNKNOWN_DOMAIN');
  if (!domain.active) throw new BrokerError('DOMAIN_DISABLED');
  return domain;
}

/**
 * A message ready for the queue, with its route chosen now: `route` omitted (tests, tools)
 * leaves it to the domain's default target.
 */
export function newMessage(body: SubmitMessageBody, queuedAt: string, route?: RouteChoice): NewMessage {
  return {
    message_id: uuidV7(),
    sender_number: body.sender_number,
    message_body: body.message_body,
    metadata: body.metadata === undefined ? '' : JSON.stringify(body.metadata),
    queued_at: queuedAt,
    ...(route ? { route: route.route, target: route.target, route_match: route.match } : {}),
  };
}

/** The message's route in its domain (decided here, at submit), or null when none takes it. */
export function chooseRouteFor(
  domain: DomainConfig,
  request: FastifyRequest,
  body: SubmitMessageBody,
): RouteChoice | null {
  return chooseRoute(domain, { headers: request.headers, sender_number: body.sender_number, metadata: body.metadata });
}

/** The message's route, or NO_ROUTE (422): nothing is queued. */
export function routeOf(domain: DomainConfig, request: FastifyRequest, body: SubmitMessageBody): RouteChoice {
  const choice = chooseRouteFor(domain, request, body);
  if (!choice) throw new BrokerError('NO_ROUTE');
  return choice;
}

/** Messages' own callback URLs, kept before the append; Redis away ⇒ 503, nothing appended. */
export async function rememberCallbacks(
  deps: Pick<MessagesRouteDeps, 'config' | 'redis'>,
  client: ClientIdentity,
  urls: ReadonlyArray<{ message_id: string; url: string }>,
): Promise<void> {
  const config = deps.config.current();
  try {
    await rememberMessageCallbacks(
      deps.redis,
      config.redis.key_prefix,
      config.events.retention_ms,
      client.client_id,
      urls,
    );
  } catch {
    throw new BrokerError('QUEUE_UNAVAILABLE');
  }
}

export function enqueueRequest(
  request: FastifyRequest,
  client: ClientIdentity,
  idempotency: Idempotency | null,
  timestamp: string,
  messages: NewMessage[],
): EnqueueRequest {
  return {
    client_id: client.client_id,
    client_name: client.client_name,
    common_name: client.common_name,
    domain: client.domain,
    idempotency,
    tracking_id: request.id,
    timestamp,
    messages,
  };
}

/**
 * A request refused by validation (or a batch without one valid item): without an
 * Idempotency-Key it is simply answered; with one, its response is remembered so that a
 * retry gets the very same answer, or the remembered one is replayed. `countRefusals`
 * counts a given `response`'s refused messages, unless it is a replay.
 */
export async function refuseInvalid(
  deps: MessagesRouteDeps,
  request: FastifyRequest,
  reply: FastifyReply,
  idempotency: Idempotency | null,
  response?: { status: number; body: unknown },
  countRefusals?: () => void,
): Promise<FastifyReply> {
  const validation = request.validationError;
  // Only the body is remembered: a bad header or path is not the request's content.
  if (validation && (validation as { validationContext?: string }).validationContext !== 'body') throw validation;
  const error = validation ? toBrokerError(validation) : undefined;
  const answer = response ?? { status: error!.status, body: errorBody(error!, request.id) };
  const domain = deps.config.domain(request.client!.domain);
  if (idempotency && domain) {
    const config = deps.config.current();
    const key = clientKeys(config.redis.key_prefix, domain, request.client!.client_id).idempotency(idempotency.key);
    const earlier = await rememberRefusal(request, deps.redis, key, idempotency, answer, config.idempotency.ttl_ms);
    if (earlier) {
      return replay(request, reply, idempotency, earlier, () => {
        // A refusal is remembered as a response; queue outcomes here mean another route's request.
        throw new BrokerError('IDEMPOTENCY_KEY_REUSED');
      });
    }
  }
  if (error) return sendError(request, reply, error, { body: answer.body as ReturnType<typeof errorBody> });
  countRefusals?.();
  return reply.code(answer.status).send(answer.body);
}
