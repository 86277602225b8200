/**
 * From the front's requests to one Redis pipeline and back: every message of the batch is
 * sealed first (one call: body and number encrypted, number hashed and masked), so only
 * envelopes reach Redis; then the requests of one domain
 * become one `enqueue-n` call (each client once, with its keys and limits), and the reply
 * is split back into each request's outcome — positions, the rate and quota state as they
 * stood after that request, or the replay / reuse of its Idempotency-Key.
 */
import type { Redis } from 'ioredis';
import type { BrokerConfig, DomainConfig } from '../config/config.js';
import { BrokerError, queueNotReplicated, queueOutcomeUnknown, toErrorData } from '../errors.js';
import { clientLimitsOf } from '../limits/client-limits.js';
import { clientEventsKey, clientKeys, domainKeys } from '../queue/keys.js';
import { isOutcomeUnknownError, isRedisDownError } from '../queue/redis-connection.js';
import type { ReplicaWait } from '../queue/replica-wait.js';
import { scriptedPipeline } from '../queue/scripts.js';
import { addEnqueue, parseEnqueueReply, type EnqueueCall, type EnqueueReply } from '../queue/stream-writer.js';
import type { SealedMessage, SealInput } from '../crypto/crypto.types.js';
import { toBuffer } from '../crypto/envelope.js';
import type { EnqueueRequest, EnqueueResult } from './ingest.types.js';

/** Seals a batch under the active data key and pepper (one key for the whole batch). */
export type SealMessages = (items: readonly SealInput[]) => SealedMessage[];

/** A domain's call, and which request of the batch each of its requests is. */
interface Planned {
  call: EnqueueCall;
  indexes: number[];
  clientIndex: Map<number, number>;
}

export class EnqueuePlanner {
  private readonly domains: Map<string, DomainConfig>;

  constructor(
    private readonly config: Readonly<BrokerConfig>,
    private readonly seal: SealMessages,
    /** `queue.replicas` > 0: what the batch waits for before it is answered. */
    private readonly replicaWait?: ReplicaWait,
  ) {
    this.domains = new Map(config.domains.map((d) => [d.name, d]));
  }

  /** Sends every request in one pipeline; resolves with one result per request. */
  async run(
    redis: Redis,
    requests: EnqueueRequest[],
    onRedisError: (error: unknown) => EnqueueResult,
  ): Promise<EnqueueResult[]> {
    const results: EnqueueResult[] = new Array<EnqueueResult>(requests.length);
    const byDomain = new Map<string, Planned>();
    const { retention_ms, max_per_client } = this.config.events;
    const prefix = this.config.redis.key_prefix;
    const minId = `${Math.max(0, Date.now() - retention_ms)}-0`;
    const sealed = this.seal(requests.flatMap((r) => r.messages));
    let nextSealed = 0;
    requests.forEach((request, index) => {
      const domain = this.domains.get(request.domain);
      const first = nextSealed;
      nextSealed += request.messages.length;
      if (!domain) {
        results[index] = { ok: false, error: toErrorData(new BrokerError('UNKNOWN_DOMAIN')) };
        return;
      }
      let planned = byDomain.get(domain.name);
      if (!planned) {
        const keys = domainKeys(this.config.redis.key_prefix, domain);
        const call: EnqueueCall = {
          stream: keys.stream,
          queued: keys.queued,
          idempotencyTtlMs: this.config.idempotency.ttl_ms,
          clients: [],
          requests: [],
          events: { domain: domain.name, maxPerClient: max_per_client, minId, ttlMs: retention_ms },
          entryFormat: this.config.queue.entry_format,
        };
        byDomain.set(domain.name, (planned = { call, indexes: [], clientIndex: new Map() }));
      }
      const keys = clientKeys(this.config.redis.key_prefix, domain, request.client_id);
      let client = planned.clientIndex.get(request.client_id);
      if (client === undefined) {
        const limits = clientLimitsOf(domain, request.common_name);
        client =
          planned.call.clients.push({
            limitsKey: keys.limits,
            clientId: request.client_id,
            clientName: request.client_name,
            rateLimit: limits.rateLimit,
            rateWindowMs: limits.rateWindowMs,
            dailyQuota: limits.dailyQuota,
            eventsKey: clientEventsKey(prefix, request.client_id),
          }) - 1;
        planned.clientIndex.set(request.client_id, client);
      }
      planned.indexes.push(index);
      planned.call.requests.push({
        client,
        recordKey: request.idempotency ? keys.idempotency(request.idempotency.key) : null,
        requestHash: request.idempotency?.hash ?? '',
        trackingId: request.tracking_id,
        timestamp: request.timestamp,
        messages: request.messages.map((m, i) => {
          const envelope = sealed[first + i]!;
          return {
            m: m.message_id,
            be: toBuffer(envelope.body_enc),
            se: toBuffer(envelope.sender_enc),
            h: envelope.sender_hash,
            p: envelope.pepper_id,
            sm: envelope.sender_masked,
            md: m.metadata,
            q: m.queued_at,
            rt: m.route ?? '',
            tg: m.target ?? '',
            rm: m.route_match ?? '',
          };
        }),
      });
    });
    const planned = [...byDomain.values()];
    if (planned.length === 0) return results;
    const pipeline = scriptedPipeline(redis);
    for (const { call } of planned) addEnqueue(pipeline, call);
    // In the same pipeline: the wait costs one round trip per batch, not one per message.
    const wait = this.replicaWait?.enabled ? this.replicaWait : undefined;
    wait?.add(pipeline);
    const replies = (await pipeline.exec()) ?? [];
    planned.forEach(({ call, indexes }, i) => {
      const [error, raw] = replies[i] ?? [new Error('no reply from Redis')];
      if (error) for (const index of indexes) results[index] = onRedisError(error);
      else this.settle(call, indexes, parseEnqueueReply(raw, call), results);
    });
    if (wait) {
      const [error, raw] = replies[planned.length] ?? [new Error('no reply from Redis to WAIT')];
      const acknowledged = error ? -1 : wait.acknowledged(raw);
      if (acknowledged < wait.replicas) {
        // The appends did happen (their replies came first): whatever broke the wait, the
        // outcome is "maybe durable", never a plain refusal.
        const refusal: EnqueueResult = {
          ok: false,
          error: toErrorData(
            error ? queueOutcomeUnknown(publicRedisCause(error)) : queueNotReplicated(wait.replicas, acknowledged),
          ),
        };
        for (const { indexes } of planned)
          for (const index of indexes) if (claimsDurability(results[index])) results[index] = refusal;
      }
    }
    return results;
  }

  /** Each request's outcome, with its client's counters as they stood right after it. */
  private settle(call: EnqueueCall, indexes: number[], reply: EnqueueReply, results: EnqueueResult[]): void {
    const used = reply.clients.map((c) => ({ rate: c.rateUsedBefore, quota: c.quotaUsedBefore }));
    reply.requests.forEach((outcome, r) => {
      const index = indexes[r]!;
      if (outcome.kind === 'replay') {
        results[index] = { ok: true, kind: 'replay', record: outcome.record };
        return;
      }
      if (outcome.kind === 'reused') {
        results[index] = { ok: true, kind: 'reused' };
        return;
      }
      const c = call.requests[r]!.client;
      const client = call.clients[c]!;
      const appended = outcome.positions.filter((p) => p > 0).length;
      used[c]!.rate += appended;
      used[c]!.quota += appended;
      results[index] = {
        ok: true,
        kind: 'done',
        positions: outcome.positions,
        rate:
          client.rateLimit > 0
            ? {
                limit: client.rateLimit,
                remaining: Math.max(0, client.rateLimit - used[c]!.rate),
                reset_ms: reply.clients[c]!.rateResetMs,
                window_ms: client.rateWindowMs,
              }
            : null,
        quota:
          client.dailyQuota > 0
            ? {
                limit: client.dailyQuota,
                remaining: Math.max(0, client.dailyQuota - used[c]!.quota),
                resets_at: new Date(reply.dayEnd).toISOString(),
              }
            : null,
      };
    });
  }
}

/** A Redis failure as the front sees it: never a 202, and "maybe queued" when the append may have landed. */
export function queueUnavailable(error: unknown): EnqueueResult {
  const cause = publicRedisCause(error);
  if (isOutcomeUnknownError(error)) return { ok: false, error: toErrorData(queueOutcomeUnknown(cause)) };
  return {
    ok: false,
    error: toErrorData(
      new BrokerError('QUEUE_UNAVAILABLE', undefined, isRedisDownError(error) ? undefined : { cause }),
    ),
  };
}

/**
 * Would this result tell the client its message is durable? An append (a positive
 * position) or a replay of an earlier one (its 202 again) would; a refusal by the rate
 * limit or the quota, a reused key or an error would not, and keep their own answer.
 */
function claimsDurability(result: EnqueueResult | undefined): boolean {
  if (!result?.ok) return false;
  if (result.kind === 'replay') return true;
  return result.kind === 'done' && result.positions.some((p) => p > 0);
}

/**
 * What a client is told of a Redis failure (`details.cause`), in the broker's words. The
 * driver's or Redis' own text (its option names, a script's internals) is for the operator:
 * the ingest actor logs it. (Redis being down, full or read-only has no cause: its
 * error_code and the health endpoint say it.)
 */
export function publicRedisCause(error: unknown): string {
  if (isOutcomeUnknownError(error)) return 'the connection to the queue broke with the append under way';
  const message = error instanceof Error ? error.message : String(error);
  // Redis' own min-replicas-to-write: a refusal the operator configured, named as Redis names it.
  if (/^NOREPLICAS\b/.test(message)) return 'NOREPLICAS: fewer replicas in sync than the queue requires';
  return 'the queue refused the append';
}
