import { describe, expect, it } from 'vitest';
import { LocalLoginThrottle } from './local-login-throttle.js';

describe('LocalLoginThrottle', () => {
  it('blocks an address after its failures until the window ends, other addresses unaffected', () => {
    let now = 0;
    const throttle = new LocalLoginThrottle(3, 60_000, () => now);
    for (let i = 0; i < 3; i++) {
      expect(throttle.blockedFor('10.0.0.1')).toBe(0);
      throttle.recordFailure('10.0.0.1');
    }
    expect(throttle.blockedFor('10.0.0.1')).toBe(60_000);
    expect(throttle.blockedFor('10.0.0.2')).toBe(0);
    now = 59_999;
    expect(throttle.blockedFor('10.0.0.1')).toBe(1);
    now = 60_000;
    expect(throttle.blockedFor('10.0.0.1')).toBe(0);
  });

  it('counts an attempt when it begins, so parallel attempts cannot pass the check together; a success gives it back', () => {
    const now = 0;
    const throttle = new LocalLoginThrottle(3, 60_000, () => now);
    // Three attempts in flight at once use up the allowance before any of them ends.
    expect([1, 2, 3, 4].map(() => throttle.begin('10.0.0.1'))).toEqual([true, true, true, false]);
    throttle.succeeded('10.0.0.1');
    expect(throttle.begin('10.0.0.1')).toBe(true);
    expect(throttle.begin('10.0.0.1')).toBe(false);
    expect(throttle.begin('10.0.0.2')).toBe(true);
  });
});
