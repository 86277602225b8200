/**
 * What a reload would strand, against the real Redis: the stream and delivery schedules of
 * a domain or target the new config no longer has (src/queue/work-left-behind.ts).
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { domainKeys, targetKeys } from '../../src/queue/keys.js';
import { workLeftBehind } from '../../src/queue/work-left-behind.js';
import { useTestRedis } from '../support/test-fixtures.js';

const { redis, prefix } = useTestRedis();

const hook = { type: 'webhook', url: 'https://127.0.0.1:9/hook', secret: 'left-behind' };

function domainsOf(domains: unknown[]) {
  return loadConfig({ values: { redis: { key_prefix: prefix }, domains }, env: {} }).domains;
}

const before = domainsOf([
  { name: 'default' },
  { name: 'acme', target: hook },
  {
    name: 'routed',
    targets: { archive: { type: 'store' }, eu: hook },
    routes: [{ name: 'eu', match: { sender_prefix: '+49' }, target: 'eu' }, { target: 'archive' }],
  },
]);

describe('work left behind by a new config', () => {
  it('is nothing when the removed domain holds nothing', async () => {
    expect(await workLeftBehind(redis, prefix, before, domainsOf([{ name: 'default' }]))).toEqual([]);
  });

  it("counts a removed domain's unstored entries and scheduled deliveries", async () => {
    const acme = before.find((d) => d.name === 'acme')!;
    const keys = domainKeys(prefix, acme);
    await redis.xadd(keys.stream, '*', 'm', '1');
    await redis.xadd(keys.stream, '*', 'm', '2');
    await redis.zadd(keys.schedule, Date.now(), 'a');
    await redis.zadd(keys.inflight, Date.now(), 'b');
    const left = await workLeftBehind(redis, prefix, before, domainsOf([{ name: 'default' }]));
    expect(left).toEqual(
      expect.arrayContaining([
        { domain: 'acme', what: 'unstored', count: 2 },
        { domain: 'acme', what: 'default deliveries', count: 2 },
      ]),
    );
    // Switched off, it stays configured and is still read: nothing is left behind.
    const inactive = domainsOf([{ name: 'default' }, { name: 'acme', target: hook, active: false }]);
    expect(await workLeftBehind(redis, prefix, before, inactive)).toEqual([]);
    // A new key_prefix moves the domain away from its keys: the same as removing it.
    const moved = domainsOf([{ name: 'default' }, { name: 'acme', key_prefix: 'acme2', target: hook }]);
    expect((await workLeftBehind(redis, prefix, before, moved)).map((w) => w.domain)).toEqual(['acme', 'acme']);
    await redis.del(keys.stream, keys.schedule, keys.inflight);
  });

  it('counts the scheduled deliveries of a target a routed domain dropped', async () => {
    const routed = before.find((d) => d.name === 'routed')!;
    await redis.zadd(targetKeys(prefix, routed, 'eu').schedule, Date.now(), 'x');
    const after = domainsOf([
      { name: 'default' },
      { name: 'acme', target: hook },
      { name: 'routed', targets: { archive: { type: 'store' } } },
    ]);
    expect(await workLeftBehind(redis, prefix, before, after)).toEqual([
      { domain: 'routed', what: 'eu deliveries', count: 1 },
    ]);
  });
});

describe('dead letters left behind by a new config', () => {
  it("counts a dropped target's dead letters, named by their target", async () => {
    const routed = before.find((d) => d.name === 'routed')!;
    const acme = before.find((d) => d.name === 'acme')!;
    const eu = targetKeys(prefix, routed, 'eu').dead;
    const acmeDead = targetKeys(prefix, acme, 'default').dead;
    await redis.xadd(eu, '*', 'm', 'x', 'a', '5', 'e', 'HTTP 503');
    await redis.xadd(eu, '*', 'm', 'y', 'a', '5', 'e', 'HTTP 503');
    await redis.xadd(acmeDead, '*', 'm', 'z', 'a', '5', 'e', 'HTTP 503');
    const after = domainsOf([{ name: 'default' }, { name: 'routed', targets: { archive: { type: 'store' } } }]);
    expect(await workLeftBehind(redis, prefix, before, after)).toEqual(
      expect.arrayContaining([
        { domain: 'routed', what: 'eu dead letters', count: 2, deadLettersOf: 'eu' },
        { domain: 'acme', what: 'default dead letters', count: 1, deadLettersOf: 'default' },
      ]),
    );
    // Kept, they are still listed and redriven: nothing is left behind.
    expect(await workLeftBehind(redis, prefix, before, before)).toEqual([]);
    await redis.del(eu, acmeDead);
  });
});
