import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';
import { deliveryShareWarnings } from './config-resolve.js';

const webhook = (host: string) => ({ type: 'webhook', url: `https://${host}.test/in`, secret: 's' });
const targets = { archive: { type: 'store' }, eu: webhook('eu'), us: webhook('us') };
const load = (domain: Record<string, unknown>) =>
  loadConfig({ values: { domains: [{ name: 'default', ...domain }] }, env: {} }).domains[0]!;
const refused = (domain: Record<string, unknown>) => () => load(domain);

describe('domain targets and routes at load', () => {
  it('reads the single target: of old as one target named default with one default route', () => {
    const domain = load({ target: webhook('gw') });
    expect(domain.targets.map((t) => [t.name, t.type])).toEqual([['default', 'webhook']]);
    expect(domain.routes).toEqual([{ name: 'default', match: {}, target: 'default' }]);
    expect(domain.target.name).toBe('default');
  });

  it('resolves named targets, their own delivery settings over the domain and delivery ones', () => {
    const domain = load({
      retry_interval_ms: 5000,
      targets: {
        ...targets,
        us: { ...webhook('us'), retry_interval_ms: 700, max_attempts: 2, backoff: 'exponential' },
      },
      routes: [
        { name: 'region-us', match: { header: { name: 'X-Region', values: ['us'] } }, target: 'us' },
        { match: { sender_prefix: '+44' }, target: 'eu' },
        { match: { metadata: { key: 'keep', value: true } }, target: 'archive' },
        { name: 'fallback', target: 'archive' },
      ],
    });
    const [archive, eu, us] = domain.targets;
    expect(us).toMatchObject({ name: 'us', retry_interval_ms: 700, max_attempts: 2, backoff: 'exponential' });
    expect(eu).toMatchObject({ name: 'eu', retry_interval_ms: 5000, max_attempts: 5, backoff: 'fixed' });
    expect(archive?.concurrency_share).toBe(0);
    expect(eu!.concurrency_share).toBeGreaterThan(0);
    expect(domain.concurrency_share).toBe(eu!.concurrency_share + us!.concurrency_share);
    expect(domain.routes.map((r) => r.name)).toEqual(['region-us', 'routes[1]', 'routes[2]', 'fallback']);
    // Header names compare lower-cased; a metadata value compares as text.
    expect(domain.routes[0]!.match).toEqual({ header: { name: 'x-region', values: ['us'] } });
    expect(domain.routes[2]!.match).toEqual({ metadata: { key: 'keep', value: 'true' } });
    // The default target is the catch-all route's.
    expect(domain.target.name).toBe('archive');
  });

  it('one named target needs no routes; several do', () => {
    expect(load({ targets: { eu: webhook('eu') } }).routes).toEqual([{ name: 'default', match: {}, target: 'eu' }]);
    expect(refused({ targets })).toThrow('domains[0].routes must be set: the domain has several targets');
  });

  it.each([
    [
      'an unknown target',
      [{ name: 'r1', target: 'nowhere' }],
      'domains[0].routes[0] (route "r1"): target "nowhere" is not one of the domain\'s targets (archive, eu, us)',
    ],
    [
      'a route after a catch-all',
      [
        { name: 'all', target: 'eu' },
        { name: 'late', match: { sender_prefix: '+1' }, target: 'us' },
      ],
      'domains[0].routes[1] (route "late") is unreachable: the earlier default route "all" matches every message',
    ],
    [
      'a duplicate prefix',
      [
        { name: 'uk', match: { sender_prefix: '+44' }, target: 'eu' },
        { name: 'uk2', match: { sender_prefix: '+44' }, target: 'us' },
      ],
      'domains[0].routes[1] (route "uk2"): route "uk" has the same sender_prefix +44',
    ],
    [
      'a header route whose values an earlier one covers',
      [
        { name: 'a', match: { header: { name: 'X-Region', values: ['eu', 'uk'] } }, target: 'eu' },
        { name: 'b', match: { header: { name: 'x-region', values: ['uk'] } }, target: 'us' },
      ],
      'domains[0].routes[1] (route "b") is unreachable: the earlier route "a" matches every message it does',
    ],
    [
      'a repeated route name',
      [
        { name: 'a', match: { sender_prefix: '+1' }, target: 'us' },
        { name: 'a', target: 'eu' },
      ],
      'domains[0].routes[1] (route "a"): another route has the name "a"',
    ],
    [
      'a match of two kinds',
      [{ match: { sender_prefix: '+1', metadata: { key: 'k', value: 'v' } }, target: 'us' }],
      'domains[0].routes[0].match must hold one of header, sender_prefix, metadata',
    ],
    [
      'a prefix that is not +digits',
      [{ match: { sender_prefix: '44' }, target: 'us' }],
      'domains[0].routes[0].match.sender_prefix must be "+" and 1 to 15 digits',
    ],
    [
      'a header without allowed values',
      [{ match: { header: { name: 'X-Region', values: [] } }, target: 'us' }],
      'domains[0].routes[0].match.header.values must be a non-empty list',
    ],
  ])('refuses %s, naming the route', (_what, routes, message) => {
    expect(refused({ targets, routes })).toThrow(message);
  });

  it('refuses target and targets together, and a bad target name or webhook', () => {
    expect(refused({ target: webhook('gw'), targets })).toThrow('domains[0] sets both target and targets');
    expect(refused({ targets: { EU: webhook('eu') } })).toThrow('domains[0].targets.EU: a target name must match');
    expect(refused({ targets, routes: [{ target: 'eu' }], concurrency_share: 8 })).toThrow(
      'domains[0].concurrency_share is for a domain with a single target',
    );
    expect(refused({ targets: { eu: { type: 'webhook', url: 'https://eu.test' } } })).toThrow(
      'domains[0].targets.eu.secret must be set for a webhook target',
    );
  });

  it('shares the delivery slots among webhook targets, and names a target in a share warning', () => {
    const config = loadConfig({
      values: {
        delivery: { concurrency: 70 },
        domains: [
          { name: 'default', target: webhook('gw') },
          {
            name: 'routed',
            targets: { ...targets, eu: { ...webhook('eu'), concurrency_share: 80 } },
            routes: [{ target: 'us' }],
          },
        ],
      },
      env: {},
    });
    const [single, routed] = config.domains;
    // Unset shares split what eu leaves (nothing), but get at least min(35, 70 / 3 webhook targets).
    expect(single!.target.concurrency_share).toBe(23);
    expect(routed!.targets.map((t) => t.concurrency_share)).toEqual([0, 80, 23]);
    expect(deliveryShareWarnings(config).map((w) => w.key)).toEqual([
      'domains[1].targets.eu.concurrency_share',
      'delivery.concurrency',
    ]);
  });
});
