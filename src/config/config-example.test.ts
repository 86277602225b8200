/** The shipped production example must stay a valid config: docs point operators at it. */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';

describe('config.example.yaml', () => {
  it('loads with its environment variables set', () => {
    const config = loadConfig({
      file: join(import.meta.dirname, '../../config.example.yaml'),
      env: {
        MB_REDIS_PASSWORD: 'r',
        MB_DB_PASSWORD: 'd',
        ACME_WEBHOOK_SECRET: 's',
        GATEWAY_EU_SECRET: 'eu',
        GATEWAY_US_SECRET: 'us',
        CARRIER_AMQP_PASSWORD: 'a',
      },
    });
    expect(config.redis.embedded).toBe('never');
    expect(config.retention.days).toBe(90);
    expect(config.domains.map((d) => [d.name, d.retention_days])).toEqual([
      ['acme', 30],
      ['gateway', 90],
      ['internal', 0],
      ['carrier', 30],
      ['selftest', 2],
      ['ops', 90], // unset (-1): inherits retention.days
    ]);
    expect(config.domains.find((d) => d.name === 'carrier')?.target).toMatchObject({
      type: 'amqp',
      exchange: 'sms.mt',
      routing_key: 'mt.{domain}',
    });
    const gateway = config.domains.find((d) => d.name === 'gateway')!;
    expect(gateway.targets.map((t) => [t.name, t.type, t.max_attempts])).toEqual([
      ['archive', 'store', 5],
      ['eu', 'webhook', 3],
      ['us', 'webhook', 5],
      ['providers', 'amqp', 5],
    ]);
    expect(gateway.routes.map((r) => `${r.name}→${r.target}`)).toEqual([
      'region-us→us',
      'uk→eu',
      'au→providers',
      'fallback→archive',
    ]);
    expect(config.bootstrap.demo_client).toBe(false);
    expect(config.log.file).toBe('/var/log/message-broker/broker.log');
  });

  it('names the missing secret when the environment lacks it', () => {
    expect(() => loadConfig({ file: join(import.meta.dirname, '../../config.example.yaml'), env: {} })).toThrow(
      /MB_REDIS_PASSWORD/,
    );
  });
});
