import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config/config.js';
import { agedFrom, isExpired, isFinalAttempt, nextDelayMs, retryPolicyOfDomain } from './retry-policy.js';

const fixed = { intervalMs: 30_000, maxAttempts: 5, backoff: 'fixed' as const };
const exponential = { ...fixed, backoff: 'exponential' as const };

describe('retry policy', () => {
  it('waits the fixed interval by default', () => {
    expect(nextDelayMs(fixed, 1)).toBe(30_000);
    expect(nextDelayMs(fixed, 4)).toBe(30_000);
  });

  it('doubles with jitter within ±20% when exponential, and stops growing', () => {
    expect(nextDelayMs(exponential, 1, undefined, () => 0.5)).toBe(30_000);
    expect(nextDelayMs(exponential, 3, undefined, () => 0.5)).toBe(120_000);
    expect(nextDelayMs(exponential, 3, undefined, () => 0)).toBe(96_000);
    expect(nextDelayMs(exponential, 3, undefined, () => 1)).toBe(144_000);
    expect(nextDelayMs(exponential, 50, undefined, () => 0.5)).toBe(30_000 * 64);
  });

  it('honours a longer Retry-After, capped at an hour', () => {
    expect(nextDelayMs(fixed, 1, 90_000)).toBe(90_000);
    expect(nextDelayMs(fixed, 1, 1_000)).toBe(30_000);
    expect(nextDelayMs(fixed, 1, 99_999_999)).toBe(3_600_000);
  });

  it('knows the last attempt', () => {
    expect(isFinalAttempt(fixed, 4)).toBe(false);
    expect(isFinalAttempt(fixed, 5)).toBe(true);
  });

  it("is the domain's effective policy as the loader resolved it", () => {
    const config = loadConfig({
      values: {
        delivery: { retry_interval_ms: 2000, max_attempts: 7, backoff: 'exponential' },
        domains: [{ name: 'default', max_attempts: 3, max_age_ms: 60_000 }],
      },
      env: {},
    });
    expect(retryPolicyOfDomain(config.domains[0]!)).toEqual({
      intervalMs: 2000,
      maxAttempts: 3,
      backoff: 'exponential',
      maxAgeMs: 60_000,
    });
  });
});

describe('agedFrom', () => {
  it('counts a message put back from the dead letters from then, not from when it was queued', () => {
    const queued_at = new Date('2026-01-01T00:00:00Z');
    const requeued_at = new Date('2026-01-03T00:00:00Z');
    const policy = { intervalMs: 1000, maxAttempts: 3, backoff: 'fixed' as const, maxAgeMs: 86_400_000 };
    const now = requeued_at.getTime() + 1000;
    expect(isExpired(policy, agedFrom({ queued_at }), now)).toBe(true);
    expect(isExpired(policy, agedFrom({ queued_at, requeued_at }), now)).toBe(false);
    expect(agedFrom({ queued_at, requeued_at: null })).toBe(queued_at);
  });
});
