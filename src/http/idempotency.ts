/**
 * The front's half of `Idempotency-Key`. A request that reaches the queue is checked and
 * recorded by the enqueue script itself (atomically with the append: 50 concurrent
 * duplicates give one message, and none waits on a lock). Here: the request hash, the
 * record of requests refused before the queue (validation), and replays.
 *
 * Scope: one client (the certificate's client), one key, `idempotency.ttl_ms`. The hash
 * covers the method, the route and the body with its keys sorted, so the same JSON sent
 * with another key order is the same request.
 */
import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import { BrokerError } from '../errors.js';
import { rememberResponse, type IdempotencyRecord } from '../queue/idempotency-record.js';
import { canonicalJson } from '../util/canonical-json.js';
import { idempotentReplaysTotal } from './api.metrics.js';
import { idempotencyKeyRule } from './messages.schemas.js';

export interface Idempotency {
  key: string;
  hash: string;
}

/** The request's Idempotency-Key and hash, or null without one; a malformed key is refused. */
export function idempotencyOf(request: FastifyRequest): Idempotency | null {
  const key = request.headers['idempotency-key'];
  if (key === undefined) return null;
  if (typeof key !== 'string' || !idempotencyKeyRule.test(key)) {
    const message = 'Idempotency-Key must be 1 to 255 visible ASCII characters';
    throw new BrokerError('INVALID_PAYLOAD', message, [{ field: 'Idempotency-Key', rule: 'pattern', message }]);
  }
  const hash = createHash('sha256')
    .update(`${request.method} ${request.routeOptions.url ?? request.url}\n${canonicalJson(request.body ?? null)}`)
    .digest('hex');
  return { key, hash };
}

/**
 * For a request answered without reaching the queue (refused by validation): remembers
 * its response under the key, or returns what the key already holds. A Redis failure
 * only costs the memory of it (logged): the refusal itself stands.
 */
export async function rememberRefusal(
  request: FastifyRequest,
  redis: Redis,
  redisKey: string,
  idempotency: Idempotency,
  response: { status: number; body: unknown },
  ttlMs: number,
): Promise<IdempotencyRecord | null> {
  try {
    return await rememberResponse(redis, redisKey, idempotency.hash, response, ttlMs);
  } catch (error) {
    request.log.warn({ err: (error as Error).message }, 'could not remember the response of an Idempotency-Key');
    return null;
  }
}

/**
 * Answers with what the key remembered — the original status and body — or refuses a key
 * used for another request. `rebuild` turns recorded queue outcomes into the route's body.
 */
export function replay(
  request: FastifyRequest,
  reply: FastifyReply,
  idempotency: Idempotency,
  record: IdempotencyRecord,
  rebuild: (record: Extract<IdempotencyRecord, { kind: 'outcomes' }>) => { status: number; body: unknown },
): FastifyReply {
  if (record.hash !== idempotency.hash) throw new BrokerError('IDEMPOTENCY_KEY_REUSED');
  const { status, body } = record.kind === 'response' ? record : rebuild(record);
  idempotentReplaysTotal.inc();
  request.log.info({ replayed_status: status }, 'idempotent replay: answered with the original response');
  return reply.code(status).header('idempotent-replayed', 'true').send(body);
}
