import { Redis } from 'ioredis';
import { describe, expect, it, vi } from 'vitest';
import { LoginAddressLimit } from '../queue/login-address-limit.js';
import { LocalLoginThrottle } from './local-login-throttle.js';
import { addressOf, LoginThrottle } from './login-throttle.js';

/** A shared window that answers from memory, or fails like an unreachable Redis. */
function fakeShared(limit: number) {
  const counts = new Map<string, number>();
  const state = { down: false };
  return {
    state,
    counts,
    async begin(ip: string) {
      if (state.down) throw new Error("Stream isn't writeable and enableOfflineQueue options is false");
      const used = counts.get(ip) ?? 0;
      if (used >= limit) return { allowed: false, failures: used, resetMs: 1000 };
      counts.set(ip, used + 1);
      return { allowed: true, failures: used + 1, resetMs: 1000 };
    },
    async giveBack(ip: string) {
      if (state.down) throw new Error('Connection is closed.');
      counts.set(ip, Math.max(0, (counts.get(ip) ?? 0) - 1));
    },
  };
}

const logger = () => ({ warn: vi.fn(), info: vi.fn() });

describe('LoginThrottle', () => {
  it('counts in the shared window and gives a success back there', async () => {
    const shared = fakeShared(2);
    const throttle = new LoginThrottle(shared, new LocalLoginThrottle(2));
    const first = await throttle.begin('10.0.0.1');
    expect(first).toBeDefined();
    expect(await throttle.begin('10.0.0.1')).toBeDefined();
    expect(await throttle.begin('10.0.0.1')).toBeUndefined();
    await first!.succeeded();
    expect(shared.counts.get('10.0.0.1')).toBe(1);
    expect(await throttle.begin('10.0.0.1')).toBeDefined();
  });

  it('falls back to this process while Redis does not answer, logging once each way', async () => {
    const shared = fakeShared(2);
    const log = logger();
    const throttle = new LoginThrottle(shared, new LocalLoginThrottle(2), log);
    shared.state.down = true;
    const attempts = [
      await throttle.begin('10.0.0.1'),
      await throttle.begin('10.0.0.1'),
      await throttle.begin('10.0.0.1'),
    ];
    expect(attempts.map((a) => a !== undefined)).toEqual([true, true, false]);
    // A success during the outage is given back where it was counted.
    await attempts[0]!.succeeded();
    expect(await throttle.begin('10.0.0.1')).toBeDefined();
    expect(log.warn).toHaveBeenCalledTimes(1);
    shared.state.down = false;
    expect(await throttle.begin('10.0.0.1')).toBeDefined();
    expect(log.info).toHaveBeenCalledTimes(1);
    // A give-back that fails (Redis gone again) does not fail the sign-in.
    const attempt = await throttle.begin('10.0.0.9');
    shared.state.down = true;
    await expect(attempt!.succeeded()).resolves.toBeUndefined();
  });

  it('falls back at once against a Redis that is not there (loopback port 1)', async () => {
    const redis = new Redis('redis://127.0.0.1:1', {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      retryStrategy: () => null,
    });
    redis.on('error', () => undefined);
    try {
      const throttle = new LoginThrottle(
        new LoginAddressLimit(redis, 'mbtest:none:', 1, 60_000),
        new LocalLoginThrottle(1),
      );
      const started = Date.now();
      expect(await throttle.begin('10.0.0.1')).toBeDefined();
      expect(await throttle.begin('10.0.0.1')).toBeUndefined();
      expect(Date.now() - started).toBeLessThan(1000);
    } finally {
      redis.disconnect();
    }
  });

  it('treats an IPv4-mapped IPv6 address as the IPv4 address', () => {
    expect(addressOf('::ffff:10.1.2.3')).toBe('10.1.2.3');
    expect(addressOf('::FFFF:10.1.2.3')).toBe('10.1.2.3');
    expect(addressOf('2001:db8::1')).toBe('2001:db8::1');
    expect(addressOf('10.1.2.3')).toBe('10.1.2.3');
  });
});
