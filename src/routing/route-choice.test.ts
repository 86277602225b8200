import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config/config.js';
import { chooseRoute, type RoutedMessage } from './route-choice.js';

const webhook = (host: string) => ({ type: 'webhook', url: `https://${host}.test/in`, secret: 's' });
const domainWith = (routes: unknown[], withDefault = true) =>
  loadConfig({
    values: {
      domains: [
        {
          name: 'default',
          targets: { archive: { type: 'store' }, eu: webhook('eu'), us: webhook('us') },
          routes: withDefault ? [...routes, { name: 'fallback', target: 'archive' }] : routes,
        },
      ],
    },
    env: {},
  }).domains[0]!;

const message = (over: Partial<RoutedMessage> = {}): RoutedMessage => ({
  headers: {},
  sender_number: '+15550001111',
  ...over,
});

describe('chooseRoute', () => {
  const domain = domainWith([
    { name: 'region-us', match: { header: { name: 'X-Region', values: ['us', 'ca'] } }, target: 'us' },
    { name: 'uk', match: { sender_prefix: '+44' }, target: 'eu' },
    { name: 'vip', match: { metadata: { key: 'tier', value: 'vip' } }, target: 'us' },
    { name: 'uk-london', match: { sender_prefix: '+4420' }, target: 'us' },
  ]);

  it('takes the first route that matches, in the order of the file', () => {
    expect(chooseRoute(domain, message({ headers: { 'x-region': 'ca' } }))).toEqual({
      route: 'region-us',
      target: 'us',
      match: 'ca',
    });
    // The header route comes first, whatever the number.
    expect(chooseRoute(domain, message({ headers: { 'x-region': 'us' }, sender_number: '+447700900000' }))).toEqual({
      route: 'region-us',
      target: 'us',
      match: 'us',
    });
    expect(chooseRoute(domain, message({ metadata: { tier: 'vip' } }))).toEqual({
      route: 'vip',
      target: 'us',
      match: 'vip',
    });
  });

  it('matches header values from the allow-list only, after trimming', () => {
    expect(chooseRoute(domain, message({ headers: { 'x-region': ' us ' } }))?.route).toBe('region-us');
    expect(chooseRoute(domain, message({ headers: { 'x-region': 'US' } }))?.route).toBe('fallback');
    expect(chooseRoute(domain, message({ headers: { 'x-region': ['eu', 'us'] } }))?.route).toBe('region-us');
  });

  it('gives a number to the longest matching prefix, wherever its route stands', () => {
    expect(chooseRoute(domain, message({ sender_number: '+447700900000' }))?.route).toBe('uk');
    // +4420 is longer than +44: the later route wins for London numbers, and the vip
    // metadata route (between them) comes first only because it is before +4420 ...
    expect(chooseRoute(domain, message({ sender_number: '+442079460000' }))?.route).toBe('uk-london');
    expect(chooseRoute(domain, message({ sender_number: '+442079460000', metadata: { tier: 'vip' } }))?.route).toBe(
      'vip',
    );
  });

  it('compares metadata values as text, and only scalars', () => {
    const numeric = domainWith([{ name: 'n', match: { metadata: { key: 'priority', value: 1 } }, target: 'eu' }]);
    expect(chooseRoute(numeric, message({ metadata: { priority: 1 } }))?.route).toBe('n');
    expect(chooseRoute(numeric, message({ metadata: { priority: '1' } }))?.route).toBe('n');
    expect(chooseRoute(numeric, message({ metadata: { priority: [1] } }))?.route).toBe('fallback');
  });

  it('answers null when nothing matches and there is no default route', () => {
    const strict = domainWith([{ name: 'uk', match: { sender_prefix: '+44' }, target: 'eu' }], false);
    expect(chooseRoute(strict, message())).toBeNull();
    expect(chooseRoute(strict, message({ sender_number: '+447700900000' }))?.target).toBe('eu');
  });

  it('routes every message of a single-target domain to its default target', () => {
    const single = loadConfig({ values: { domains: [{ name: 'default', target: webhook('gw') }] }, env: {} })
      .domains[0]!;
    expect(chooseRoute(single, message())).toEqual({ route: 'default', target: 'default', match: '' });
  });
});

describe('the match recorded with the route (an amqp routing key’s {match})', () => {
  it('is the header value sent, the prefix, the metadata value, or empty for the default route', () => {
    const domain = domainWith([
      { name: 'region', match: { header: { name: 'X-Region', values: ['us', 'ca'] } }, target: 'us' },
      { name: 'uk', match: { sender_prefix: '+44' }, target: 'eu' },
      { name: 'tier', match: { metadata: { key: 'tier', value: '1' } }, target: 'eu' },
    ]);
    expect(chooseRoute(domain, message({ headers: { 'x-region': ' ca ' } }))?.match).toBe('ca');
    expect(chooseRoute(domain, message({ sender_number: '+447700900000' }))?.match).toBe('+44');
    expect(chooseRoute(domain, message({ metadata: { tier: 1 } }))?.match).toBe('1');
    expect(chooseRoute(domain, message())).toMatchObject({ route: 'fallback', match: '' });
  });
});
