import { describe, expect, it, vi } from 'vitest';
import type { BrokerConfig } from '../config/config.js';
import { insecureHttpDomains, warnInsecureTargets, webhookTransportComponent } from './insecure-targets.js';

// As the loader resolves them: the single target is also the domain's one `targets` entry.
const domain = (name: string, type: 'store' | 'webhook' | 'amqp', url = '') => {
  const target = { name: 'default', type, url };
  return { name, target, targets: [target] } as unknown as BrokerConfig['domains'][number];
};

describe('webhook targets over plain http', () => {
  const config = {
    domains: [
      domain('store', 'store'),
      domain('secure', 'webhook', 'https://gw.test/in'),
      domain('plain', 'webhook', 'http://gw.test/in'),
    ],
  };

  it('names the domains whose webhook is http://', () => {
    expect(insecureHttpDomains(config)).toEqual(['plain']);
  });

  it('names a domain one of whose named targets is http://', () => {
    const routed = {
      name: 'routed',
      target: { name: 'archive', type: 'store', url: '' },
      targets: [
        { name: 'archive', type: 'store', url: '' },
        { name: 'lan', type: 'webhook', url: 'http://10.0.0.5/in' },
      ],
    } as unknown as BrokerConfig['domains'][number];
    expect(insecureHttpDomains({ domains: [...config.domains.slice(0, 2), routed] })).toEqual(['routed']);
  });

  it('makes health degraded while one exists, up otherwise', () => {
    expect(webhookTransportComponent(config)).toMatchObject({ status: 'degraded', insecure_http: ['plain'] });
    expect(webhookTransportComponent({ domains: config.domains.slice(0, 2) })).toEqual({
      status: 'up',
      insecure_http: [],
    });
  });

  it('warns in the log naming the domains, and says nothing when there are none', () => {
    const logger = { warn: vi.fn() };
    warnInsecureTargets({ domains: config.domains.slice(0, 2) }, logger);
    expect(logger.warn).not.toHaveBeenCalled();
    warnInsecureTargets(config, logger);
    expect(logger.warn).toHaveBeenCalledWith({ domains: ['plain'] }, expect.stringContaining('in clear'));
  });
});

describe('amqp targets over plain amqp://', () => {
  it('counts them as insecure beside http:// webhooks, and not amqps://', () => {
    const config = {
      domains: [
        domain('plain-hook', 'webhook', 'http://gw.test/in'),
        domain('plain-rabbit', 'amqp', 'amqp://rabbit.test'),
        domain('rabbit', 'amqp', 'amqps://rabbit.test'),
      ],
    };
    expect(insecureHttpDomains(config)).toEqual(['plain-hook', 'plain-rabbit']);
    expect(webhookTransportComponent(config)).toMatchObject({ status: 'degraded' });
  });
});
