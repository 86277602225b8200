import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from 'commander';
import { loadConfig } from '../config/config.js';
import { BrokerError } from '../errors.js';
import { parsePositiveInt, resolveClient } from './cli-support.js';

const oneDomain = loadConfig({ values: {}, env: {} });
const twoDomains = loadConfig({ values: { domains: [{ name: 'default' }, { name: 'acme.example' }] }, env: {} });

describe('resolveClient', () => {
  it('splits a CN at its first dot (client names have none, domains may)', () => {
    expect(resolveClient(twoDomains, 'alice.acme.example', undefined)).toEqual({
      name: 'alice',
      domain: 'acme.example',
    });
    expect(resolveClient(twoDomains, 'alice.acme.example', 'acme.example')).toEqual({
      name: 'alice',
      domain: 'acme.example',
    });
  });

  it('takes --domain, or the only configured domain', () => {
    expect(resolveClient(twoDomains, 'alice', 'default')).toEqual({ name: 'alice', domain: 'default' });
    expect(resolveClient(oneDomain, 'alice', undefined)).toEqual({ name: 'alice', domain: 'default' });
  });

  it('refuses a contradiction and a missing domain when several exist', () => {
    expect(() => resolveClient(twoDomains, 'alice.default', 'acme.example')).toThrow(BrokerError);
    expect(() => resolveClient(twoDomains, 'alice', undefined)).toThrow(/give --domain/);
  });
});

describe('parsePositiveInt', () => {
  it('accepts whole positive numbers only, as a usage error otherwise', () => {
    expect(parsePositiveInt('30')).toBe(30);
    for (const bad of ['0', '-1', '1.5', 'ten', '']) expect(() => parsePositiveInt(bad)).toThrow(InvalidArgumentError);
  });
});
