import { describe, expect, it } from 'vitest';
import type { IssuedBundle } from '../ca/ca.types.js';
import { BundleStash } from './bundle-stash.js';

function bundle(serial: string): IssuedBundle {
  return {
    common_name: `c${serial}.default`,
    serial,
    fingerprint: 'ab'.repeat(32),
    cert_pem: 'cert',
    key_pem: 'key',
    ca_pem: 'ca',
    not_before: '2026-01-01T00:00:00Z',
    not_after: '2027-01-01T00:00:00Z',
  };
}

describe('BundleStash', () => {
  it('hands a bundle out once, and only to the admin who issued it', () => {
    const stash = new BundleStash();
    const token = stash.put(1, bundle('01'));
    expect(stash.take(token, 2)).toBeUndefined();
    expect(stash.take(token, 1)?.serial).toBe('01');
    expect(stash.take(token, 1)).toBeUndefined();
  });

  it('forgets a bundle after the TTL', () => {
    let now = 0;
    const stash = new BundleStash(() => now);
    const token = stash.put(1, bundle('01'));
    now = stash.ttlMinutes * 60_000;
    expect(stash.take(token, 1)).toBeUndefined();
  });

  it("an admin filling the stash evicts only their own oldest downloads, never another admin's", () => {
    const stash = new BundleStash();
    const others = stash.put(2, bundle('02'));
    const first = stash.put(1, bundle('10'));
    const rest: string[] = [];
    for (let i = 0; i < 1000; i++) rest.push(stash.put(1, bundle(`1${i}`)));
    expect(stash.take(others, 2)?.serial).toBe('02');
    expect(stash.take(first, 1)).toBeUndefined();
    // The newest ones of the flooding admin are still there.
    expect(stash.take(rest.at(-1)!, 1)?.serial).toBe('1999');
    expect(stash.take(rest.at(-BundleStash.maxPerUser)!, 1)).toBeDefined();
    expect(stash.take(rest.at(-BundleStash.maxPerUser - 1)!, 1)).toBeUndefined();
  });
});
