import { describe, expect, it } from 'vitest';
import { LoginThrottle } from './login-throttle.js';

describe('LoginThrottle', () => {
  it('blocks an address after its failures until the window ends, other addresses unaffected', () => {
    let now = 0;
    const throttle = new LoginThrottle(3, 60_000, () => now);
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
});
