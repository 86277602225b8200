import { describe, expect, it } from 'vitest';
import { CircuitBreaker } from './circuit-breaker.js';

describe('CircuitBreaker', () => {
  it('stays closed below the threshold and lets every free slot through', () => {
    const breaker = new CircuitBreaker(3, 1000);
    breaker.recordFailure('HTTP 503', 0);
    breaker.recordFailure('HTTP 503', 0);
    expect(breaker.current).toBe('closed');
    expect(breaker.allowance(10, 0)).toBe(10);
  });

  it('opens after N consecutive failures and lets nothing through while open', () => {
    const changes: string[] = [];
    const breaker = new CircuitBreaker(3, 1000, undefined, (s) => changes.push(s));
    for (let i = 0; i < 3; i++) breaker.recordFailure('timeout', 100);
    expect(breaker.current).toBe('open');
    expect(breaker.allowance(10, 500)).toBe(0);
    expect(breaker.snapshot()).toMatchObject({ state: 'open', consecutive_failures: 3, last_error: 'timeout' });
    expect(changes).toEqual(['open']);
  });

  it('sends one probe when half-open; success closes it', () => {
    const breaker = new CircuitBreaker(1, 1000);
    breaker.recordFailure('x', 0);
    expect(breaker.allowance(10, 1000)).toBe(1);
    expect(breaker.current).toBe('half_open');
    breaker.probing();
    expect(breaker.allowance(10, 1001)).toBe(0);
    breaker.recordSuccess();
    expect(breaker.current).toBe('closed');
    expect(breaker.allowance(10, 1002)).toBe(10);
  });

  it('lets the probe through at once when the transport saw the downstream come back, without a second probe', () => {
    const breaker = new CircuitBreaker(1, 60_000);
    expect(breaker.recovered()).toBe(false); // closed: nothing to do
    breaker.recordFailure('AMQP_DISCONNECTED', 0);
    expect(breaker.allowance(10, 1000)).toBe(0);
    expect(breaker.recovered()).toBe(true);
    expect(breaker.current).toBe('half_open');
    expect(breaker.allowance(10, 1000)).toBe(1);
    breaker.probing(1000);
    expect(breaker.recovered()).toBe(false); // a probe is under way: its outcome decides
    breaker.recordFailure('AMQP_DISCONNECTED', 1500);
    expect(breaker.snapshot().retry_at).toBe(new Date(1500 + 120_000).toISOString());
  });

  it('reopens for twice as long when the probe fails, capped at 10×', () => {
    const breaker = new CircuitBreaker(1, 1000);
    breaker.recordFailure('x', 0);
    breaker.allowance(1, 1000);
    breaker.probing();
    breaker.recordFailure('x', 1000);
    expect(breaker.current).toBe('open');
    expect(breaker.allowance(1, 2500)).toBe(0);
    expect(breaker.allowance(1, 3000)).toBe(1);
    let now = 3000;
    for (let i = 0; i < 8; i++) {
      breaker.probing();
      breaker.recordFailure('x', now);
      now += 1_000_000;
      expect(breaker.allowance(1, now)).toBe(1);
    }
    breaker.probing();
    breaker.recordFailure('x', now);
    const { opened_at, retry_at } = breaker.snapshot();
    expect(Date.parse(retry_at!) - Date.parse(opened_at!)).toBe(10_000);
  });

  it('a probe marked but not sent (nothing was due) lets the next look send one', () => {
    const breaker = new CircuitBreaker(1, 1000);
    breaker.recordFailure('x', 0);
    expect(breaker.allowance(1, 1000)).toBe(1);
    breaker.probing(1000);
    expect(breaker.allowance(1, 1001)).toBe(0);
    // Before, the breaker waited for this probe's outcome for good: no attempt ever started again.
    breaker.probeAborted();
    expect(breaker.allowance(1, 1002)).toBe(1);
    expect(breaker.current).toBe('half_open');
  });

  it('a probe whose outcome never comes stops blocking after the probe timeout', () => {
    const breaker = new CircuitBreaker(1, 1000, 5000);
    breaker.recordFailure('x', 0);
    breaker.allowance(1, 1000);
    breaker.probing(1000);
    expect(breaker.allowance(1, 5999)).toBe(0);
    expect(breaker.allowance(1, 6000)).toBe(1);
  });

  it('a success resets the count of consecutive failures', () => {
    const breaker = new CircuitBreaker(3, 1000);
    breaker.recordFailure('x');
    breaker.recordFailure('x');
    breaker.recordSuccess();
    breaker.recordFailure('x');
    breaker.recordFailure('x');
    expect(breaker.current).toBe('closed');
  });
});
