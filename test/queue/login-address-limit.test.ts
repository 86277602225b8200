/** The shared sign-in window per address: login-begin-1 / login-give-back-1 against the real Redis. */
import { describe, expect, it } from 'vitest';
import { useTestRedis } from '../support/test-fixtures.js';
import { portalAddressKeys } from '../../src/queue/keys.js';
import { LoginAddressLimit } from '../../src/queue/login-address-limit.js';

const { prefix, redis } = useTestRedis();

describe('LoginAddressLimit (real Redis)', () => {
  it('counts attempts as they start, up to the limit, in a window that expires; other addresses apart', async () => {
    const limit = new LoginAddressLimit(redis, prefix, 3, 60_000);
    const takes = await Promise.all([1, 2, 3, 4, 5].map(() => limit.begin('10.0.0.1')));
    expect(takes.map((t) => t.allowed).sort()).toEqual([false, false, true, true, true]);
    expect(
      takes
        .filter((t) => t.allowed)
        .map((t) => t.failures)
        .sort(),
    ).toEqual([1, 2, 3]);
    for (const take of takes) {
      expect(take.resetMs).toBeGreaterThan(59_000);
      expect(take.resetMs).toBeLessThanOrEqual(60_000);
    }
    const key = portalAddressKeys(prefix, '10.0.0.1').loginFailures;
    expect(await redis.get(key)).toBe('3');
    expect(await redis.pttl(key)).toBeGreaterThan(59_000);
    expect((await limit.begin('10.0.0.2')).allowed).toBe(true);
  });

  it('gives a success back within the window, never below zero, keeping the expiry', async () => {
    const limit = new LoginAddressLimit(redis, prefix, 2, 60_000);
    const key = portalAddressKeys(prefix, '10.0.1.1').loginFailures;
    expect((await limit.begin('10.0.1.1')).allowed).toBe(true);
    expect((await limit.begin('10.0.1.1')).allowed).toBe(true);
    expect((await limit.begin('10.0.1.1')).allowed).toBe(false);
    await limit.giveBack('10.0.1.1');
    expect(await redis.get(key)).toBe('1');
    expect(await redis.pttl(key)).toBeGreaterThan(59_000);
    expect((await limit.begin('10.0.1.1')).allowed).toBe(true);
    // A give-back after the window ended creates nothing (DECR would leave -1 without an expiry).
    await limit.giveBack('10.0.1.2');
    expect(await redis.exists(portalAddressKeys(prefix, '10.0.1.2').loginFailures)).toBe(0);
  });

  it('lets the address in again once the window has expired, and repairs a count without an expiry', async () => {
    const limit = new LoginAddressLimit(redis, prefix, 1, 200);
    expect((await limit.begin('10.0.2.1')).allowed).toBe(true);
    expect((await limit.begin('10.0.2.1')).allowed).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect((await limit.begin('10.0.2.1')).allowed).toBe(true);

    const key = portalAddressKeys(prefix, '10.0.2.2').loginFailures;
    await redis.set(key, '5');
    const take = await limit.begin('10.0.2.2');
    expect(take).toMatchObject({ allowed: false, failures: 5, resetMs: 200 });
    expect(await redis.pttl(key)).toBeGreaterThan(0);
  });
});
