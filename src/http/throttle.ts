/**
 * How the rate limit and the quota show on the wire. Every counted request carries the
 * IETF draft headers (draft-ietf-httpapi-ratelimit-headers): `RateLimit-Limit`,
 * `RateLimit-Remaining`, `RateLimit-Reset` (seconds until the window ends) and
 * `RateLimit-Policy` (`100;w=60`). A refusal adds `Retry-After` (seconds).
 */
import type { FastifyReply } from 'fastify';
import type { QuotaState, RateState } from '../ingest/ingest.types.js';
import { BrokerError } from '../errors.js';
import type { ClientLimits } from '../limits/client-limits.js';
import { throttledByQuota, throttledByRate } from './api.metrics.js';

export function applyRateHeaders(reply: FastifyReply, rate: RateState | null): void {
  if (!rate) return;
  void reply
    .header('ratelimit-limit', String(rate.limit))
    .header('ratelimit-remaining', String(rate.remaining))
    .header('ratelimit-reset', String(Math.ceil(rate.reset_ms / 1000)))
    .header('ratelimit-policy', `${rate.limit};w=${Math.round(rate.window_ms / 1000)}`);
}

/** The refusal of a request over its rate limit; sets Retry-After. */
export function rateLimited(reply: FastifyReply, rate: RateState | null, count = 1): BrokerError {
  throttledByRate.inc(count);
  const retryAfter = Math.max(1, Math.ceil((rate?.reset_ms ?? 1000) / 1000));
  void reply.header('retry-after', String(retryAfter));
  return new BrokerError(
    'TOO_MANY_REQUESTS',
    `Rate limit of ${rate?.limit} requests per ${Math.round((rate?.window_ms ?? 0) / 1000)} s reached; retry in ${retryAfter} s`,
    {
      limit: rate?.limit,
      window_s: Math.round((rate?.window_ms ?? 0) / 1000),
      retry_after_s: retryAfter,
    },
  );
}

/** The refusal of a message over the client's daily quota; sets Retry-After (until UTC midnight). */
export function quotaExceeded(reply: FastifyReply, quota: QuotaState | null, count = 1): BrokerError {
  throttledByQuota.inc(count);
  const resetsAt = quota?.resets_at ?? new Date().toISOString();
  const retryAfter = Math.max(1, Math.ceil((Date.parse(resetsAt) - Date.now()) / 1000));
  void reply.header('retry-after', String(retryAfter));
  return new BrokerError(
    'QUOTA_EXCEEDED',
    `Daily quota of ${quota?.limit} messages reached; it resets at ${resetsAt}`,
    {
      limit: quota?.limit,
      resets_at: resetsAt,
      retry_after_s: retryAfter,
    },
  );
}

/**
 * A batch item refused by a limit: the single route's code, message and details (the
 * limit, the window or the quota's reset), without the wait — the 207's Retry-After
 * carries it. Built from the request's time and the client's limits only, so that an
 * Idempotency-Key replay, which has just the items' codes, rebuilds the same error.
 */
export function throttledItemError(
  code: 'TOO_MANY_REQUESTS' | 'QUOTA_EXCEEDED',
  limits: ClientLimits,
  timestamp: string,
): BrokerError {
  if (code === 'TOO_MANY_REQUESTS') {
    const windowS = Math.round(limits.rateWindowMs / 1000);
    return new BrokerError('TOO_MANY_REQUESTS', `Rate limit of ${limits.rateLimit} requests per ${windowS} s reached`, {
      limit: limits.rateLimit,
      window_s: windowS,
    });
  }
  const at = new Date(timestamp);
  const resetsAt = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate() + 1)).toISOString();
  return new BrokerError(
    'QUOTA_EXCEEDED',
    `Daily quota of ${limits.dailyQuota} messages reached; it resets at ${resetsAt}`,
    {
      limit: limits.dailyQuota,
      resets_at: resetsAt,
    },
  );
}
