/** When the next attempt is due: fixed interval (the default) or exponential with ±20% jitter. */
import type { DomainConfig, TargetConfig } from '../config/config.js';

export interface RetryPolicy {
  intervalMs: number;
  maxAttempts: number;
  backoff: 'fixed' | 'exponential';
  /** A message older than this is not attempted again; 0 = no limit. */
  maxAgeMs?: number;
}

/** A domain's retry policy, as the loader resolved it (its overrides over the delivery defaults). */
export function retryPolicyOfDomain(
  domain: Pick<DomainConfig, 'retry_interval_ms' | 'max_attempts' | 'backoff' | 'max_age_ms'>,
): RetryPolicy {
  return {
    intervalMs: domain.retry_interval_ms,
    maxAttempts: domain.max_attempts,
    backoff: domain.backoff,
    maxAgeMs: domain.max_age_ms,
  };
}

/**
 * A target's retry policy: its own spacing and attempts (resolved over its domain's by the
 * loader), its domain's `max_age_ms`.
 */
export function retryPolicyOf(
  domain: Pick<DomainConfig, 'max_age_ms'>,
  target: Pick<TargetConfig, 'retry_interval_ms' | 'max_attempts' | 'backoff'>,
): RetryPolicy {
  return retryPolicyOfDomain({ ...target, max_age_ms: domain.max_age_ms });
}

/** Exponential spacing stops growing after six doublings (30 s → 32 min by default). */
const MAX_DOUBLINGS = 6;

export function nextDelayMs(
  policy: RetryPolicy,
  attemptsMade: number,
  retryAfterMs?: number,
  random = Math.random,
): number {
  let delay = policy.intervalMs;
  if (policy.backoff === 'exponential') {
    delay = policy.intervalMs * 2 ** Math.min(Math.max(attemptsMade - 1, 0), MAX_DOUBLINGS);
    delay = Math.round(delay * (0.8 + 0.4 * random()));
  }
  // A downstream that says when to come back is believed, within reason (1 h).
  if (retryAfterMs !== undefined && retryAfterMs > delay) delay = Math.min(retryAfterMs, 3_600_000);
  return delay;
}

export function isFinalAttempt(policy: RetryPolicy, attemptsMade: number): boolean {
  return attemptsMade >= policy.maxAttempts;
}

/**
 * When a message's age starts: when it was queued, or when an operator last put it back
 * from the dead letters (`requeued_at`: a redrive or retry is a decision to have it
 * attempted, so one dead-lettered for its age gets its attempts).
 */
export function agedFrom(message: { queued_at: Date; requeued_at?: Date | null }): Date {
  const { queued_at, requeued_at } = message;
  return requeued_at && requeued_at > queued_at ? requeued_at : queued_at;
}

/** Too old to be worth another attempt (the domain's `max_age_ms`, counted from `agedFrom`). */
export function isExpired(policy: RetryPolicy, agedFromAt: Date, now = Date.now()): boolean {
  return policy.maxAgeMs !== undefined && policy.maxAgeMs > 0 && now - agedFromAt.getTime() > policy.maxAgeMs;
}
