import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, envName, loadConfig, substituteEnv } from './config.js';

const dir = mkdtempSync(join(tmpdir(), 'mb-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(text: string): string {
  const path = join(dir, `c${Math.random().toString(16).slice(2)}.yaml`);
  writeFileSync(path, text);
  return path;
}

describe('loadConfig', () => {
  it('works with no file at all, against the local defaults', () => {
    const config = loadConfig({ values: {}, env: {} });
    expect(config.server.port).toBe(8443);
    expect(config.redis.url).toBe('redis://127.0.0.1:6379');
    expect(config.database.url).toBe('mysql://root@127.0.0.1:3306/message_broker');
    expect(config.delivery.retry_interval_ms).toBe(30_000);
    expect(config.delivery.concurrency).toBeGreaterThanOrEqual(35);
    expect(config.domains.map((d) => d.name)).toEqual(['default']);
    expect(config.instance_id).not.toBe('');
    expect(Object.isFrozen(config.server)).toBe(true);
  });

  it('reads YAML, substitutes ${ENV} and ${ENV:-fallback}', () => {
    const path = file('server:\n  port: ${PORT}\nredis:\n  url: ${REDIS:-redis://10.0.0.1:6379}\n');
    const config = loadConfig({ file: path, env: { PORT: '9443' } });
    expect(config.server.port).toBe(9443);
    expect(config.redis.url).toBe('redis://10.0.0.1:6379');
  });

  it('refuses a file that is not YAML with a ConfigError naming the file, line and column, and no quoted text', () => {
    const path = file('redis:\n  url: redis://:Hunter2Secret@h:1\nserver: [\n  port: 1\n');
    let error: unknown;
    try {
      loadConfig({ file: path, env: {} });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain(`${path} is not valid YAML`);
    expect((error as Error).message).toMatch(/line \d+, column \d+/);
    expect((error as Error).message).not.toContain('Hunter2Secret');
  });

  it.each([
    ['MB_REDIS_URL', 'redis//:Hunter2Secret@127.0.0.1:6379', /^redis\.url is not a valid URL/],
    ['MB_REDIS_URL', 'http://127.0.0.1:6379', /^redis\.url must start with redis:\/\/ or rediss:\/\//],
    ['MB_DATABASE_URL', 'mysq://root@127.0.0.1/x', /^database\.url must start with mysql:\/\/ or mariadb:\/\//],
    ['MB_DATABASE_URL', 'mysql://root:Hunter2Secret@127.0.0.1:3306', /^database\.url must name a database/],
  ])('refuses %s=%s before anything connects, without repeating it', (name, value, message) => {
    let error: unknown;
    try {
      loadConfig({ values: {}, env: { [name]: value } });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain('Hunter2Secret');
  });

  it('names an unset environment variable', () => {
    const path = file('server:\n  port: ${NOPE}\n');
    expect(() => loadConfig({ file: path, env: {} })).toThrow(/NOPE is not set/);
  });

  it('lets MB_* variables override any key', () => {
    const config = loadConfig({
      values: { server: { port: 1 } },
      env: {
        MB_SERVER_PORT: '7443',
        MB_REDIS_URL: 'redis://h:1',
        MB_DATABASE_URL: 'mysql://u@h/db',
        MB_QUEUE_FSYNC: 'always',
        MB_REDIS_MANAGE_PERSISTENCE: 'false',
      },
    });
    expect(config.server.port).toBe(7443);
    expect(config.redis.url).toBe('redis://h:1');
    expect(config.database.url).toBe('mysql://u@h/db');
    expect(config.queue.fsync).toBe('always');
    expect(config.redis.manage_persistence).toBe(false);
    expect(envName(['delivery', 'max_attempts'])).toBe('MB_DELIVERY_MAX_ATTEMPTS');
  });

  it('refuses an MB_* variable that names no key, with the key it probably meant', () => {
    const load = (env: NodeJS.ProcessEnv) => () => loadConfig({ values: {}, env });
    expect(load({ MB_DELIVERY_MAX_ATEMPTS: '3' })).toThrow(ConfigError);
    expect(load({ MB_DELIVERY_MAX_ATEMPTS: '3' })).toThrow(
      'environment variable MB_DELIVERY_MAX_ATEMPTS matches no config key; did you mean MB_DELIVERY_MAX_ATTEMPTS (delivery.max_attempts)?',
    );
    expect(load({ MB_NOTHING_LIKE_ANY_KEY: '1' })).toThrow(
      /^environment variable MB_NOTHING_LIKE_ANY_KEY matches no config key$/,
    );
    // The project's own variables, and those the file substitutes, are not overrides.
    expect(
      load({ MB_CONFIG: 'x', MB_SKIP_SETUP: '1', MB_TEST_MYSQL_URL: 'mysql://h', MB_DOMAINS: '[{"name":"default"}]' }),
    ).not.toThrow();
    const path = file('database:\n  url: mysql://mb:${MB_DATABASE_SECRET}@db/mb\n');
    expect(() => loadConfig({ file: path, env: { MB_DATABASE_SECRET: 's' } })).not.toThrow();
  });

  it('takes domains from MB_DOMAINS as JSON', () => {
    const config = loadConfig({
      values: {},
      env: {
        MB_DOMAINS: JSON.stringify([
          { name: 'default' },
          { name: 'acme', target: { type: 'webhook', url: 'https://x.test/in', secret: 's' }, max_attempts: 3 },
        ]),
      },
    });
    expect(config.domains[1]?.target.type).toBe('webhook');
    expect(config.domains[1]?.key_prefix).toBe('acme');
    expect(config.domains[1]?.max_attempts).toBe(3);
    expect(config.domains[0]?.max_attempts).toBe(5);
  });

  it.each([
    [{ delivery: { max_attempts: 0 } }, 'delivery.max_attempts must be a positive integer'],
    [{ delivery: { max_attempts: 'five' } }, 'delivery.max_attempts must be a positive integer'],
    [{ delivery: { concurrency: 10 } }, 'delivery.concurrency must be a positive integer'],
    [{ queue: { fsync: 'sometimes' } }, 'queue.fsync must be one of: everysec, always'],
    [{ server: { prot: 1 } }, 'server.prot is not a known setting; did you mean server.port?'],
    [{ surver: {} }, 'surver is not a known setting; did you mean server?'],
    [{ redis: { key_prefx: 'x:' } }, 'redis.key_prefx is not a known setting; did you mean redis.key_prefix?'],
    [
      { domains: [{ name: 'a', targt: { type: 'store' } }] },
      'domains[0].targt is not a known setting; did you mean domains[0].target?',
    ],
    [{ redis: { zzzzzz: 1 } }, /^redis\.zzzzzz is not a known setting$/],
    [{ domains: [{ name: 'Bad Name' }] }, 'domains[0].name must match'],
    [{ domains: [{ name: 'a' }, { name: 'a' }] }, 'domains[1].name repeats "a"'],
    [
      { domains: [{ name: 'default' }, { name: 'alpha' }, { name: 'beta', key_prefix: 'alpha' }] },
      'domains[2].key_prefix "alpha" (domain beta) overlaps the Redis keys of domain alpha',
    ],
    [
      {
        domains: [
          { name: 'default', key_prefix: 'shared' },
          { name: 'beta', key_prefix: 'shared' },
        ],
      },
      'domains[1].key_prefix "shared" (domain beta) overlaps the Redis keys of domain default',
    ],
    [
      { domains: [{ name: 'default' }, { name: 'beta', key_prefix: 'default:target:eu' }] },
      'domains[1].key_prefix "default:target:eu" (domain beta) overlaps the Redis keys of domain default',
    ],
    [{ domains: [{ name: 'default', target: { type: 'webhook' } }] }, 'domains[0].target.url must be an https:// URL'],
    [{ domains: [{ name: 'x' }] }, 'bootstrap.demo_domain "default" is not one of the configured domains'],
  ])('refuses %j naming the key', (values, message) => {
    expect(() => loadConfig({ values, env: {} })).toThrow(ConfigError);
    expect(() => loadConfig({ values, env: {} })).toThrow(message);
  });

  it('refuses a bad MB_* value naming the key', () => {
    expect(() => loadConfig({ values: {}, env: { MB_SERVER_PORT: 'abc' } })).toThrow('server.port must be an integer');
  });

  it('substituteEnv leaves plain text alone', () => {
    expect(substituteEnv('a: b', {})).toBe('a: b');
  });
});

describe('webhook targets over plain http', () => {
  const plain = (target: Record<string, unknown>) => ({
    domains: [{ name: 'default' }, { name: 'acme', target: { type: 'webhook', secret: 's', ...target } }],
  });

  it('refuses an http:// target, naming the key and the two ways out', () => {
    const load = () => loadConfig({ values: plain({ url: 'http://gw.acme.test/in' }), env: {} });
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(
      'domains[1].target.url is http://, which would send decrypted bodies and sender numbers in clear: use https://, or set domains[1].target.allow_insecure_http: true to accept that',
    );
  });

  it('accepts it when the domain asks by name, and https:// always', () => {
    const config = loadConfig({
      values: plain({ url: 'http://gw.acme.test/in', allow_insecure_http: true }),
      env: {},
    });
    expect(config.domains[1]?.target).toMatchObject({ url: 'http://gw.acme.test/in', allow_insecure_http: true });
    const secure = loadConfig({ values: plain({ url: 'https://gw.acme.test/in' }), env: {} });
    expect(secure.domains[1]?.target.allow_insecure_http).toBe(false);
  });

  it('refuses other schemes whatever the flag says', () => {
    for (const url of ['ftp://gw.acme.test/in', 'gw.acme.test/in', 'HTTP//x'])
      expect(() => loadConfig({ values: plain({ url, allow_insecure_http: true }), env: {} })).toThrow(
        'domains[1].target.url must be an https:// URL',
      );
  });
});

describe('webhook target URLs', () => {
  const load = (url: string) => () =>
    loadConfig({
      values: { domains: [{ name: 'default' }, { name: 'acme', target: { type: 'webhook', secret: 's', url } }] },
      env: {},
    });

  it('refuses one that does not parse, rather than failing every attempt with "Invalid URL"', () => {
    for (const url of ['https://', 'https://exa mple.com/in', 'https://gw.acme.test:99999/in', 'https://[::1/in'])
      expect(load(url), url).toThrow('domains[1].target.url is not a valid URL (https://host[:port]/path)');
  });

  it('refuses a user name or password, which would never reach the downstream', () => {
    for (const url of ['https://user:pass@gw.acme.test/in', 'https://user@gw.acme.test/in'])
      expect(load(url), url).toThrow('domains[1].target.url must not carry a user name or password');
  });

  it('takes a port, a query and an IPv6 host', () => {
    for (const url of ['https://gw.acme.test:8443/in?key=1', 'https://[::1]:8443/in'])
      expect(load(url)().domains[1]?.target.url).toBe(url);
  });
});

describe('amqp targets', () => {
  const amqp = (target: Record<string, unknown>) => ({
    domains: [{ name: 'default' }, { name: 'acme', target: { type: 'amqp', ...target } }],
  });
  const load = (target: Record<string, unknown>) => loadConfig({ values: amqp(target), env: {} });

  it('takes an amqps:// url with an exchange and a routing key, and gives it delivery slots', () => {
    const config = load({ url: 'amqps://mb:pw@rabbit.acme.test/sms', exchange: 'sms', routing_key: 'out.{domain}' });
    expect(config.domains[1]?.target).toMatchObject({
      type: 'amqp',
      exchange: 'sms',
      routing_key: 'out.{domain}',
      timeout_ms: config.delivery.webhook_timeout_ms,
    });
    expect(config.domains[1]?.concurrency_share).toBeGreaterThan(0);
    expect(load({ url: 'amqps://rabbit.acme.test' }).domains[1]?.target.routing_key).toBe('{domain}');
  });

  it('refuses amqp:// unless the domain asks by name, and any other scheme', () => {
    expect(() => load({ url: 'amqp://rabbit.acme.test' })).toThrow(
      'domains[1].target.url is amqp://, which would send decrypted bodies and sender numbers in clear: use amqps://, or set domains[1].target.allow_insecure_amqp: true to accept that',
    );
    expect(load({ url: 'amqp://127.0.0.1:5672', allow_insecure_amqp: true }).domains[1]?.target.url).toBe(
      'amqp://127.0.0.1:5672',
    );
    for (const url of ['', 'https://rabbit.acme.test', 'rabbit.acme.test'])
      expect(() => load({ url })).toThrow('domains[1].target.url must be an amqps:// URL');
  });

  it('refuses an unknown routing-key placeholder and a half-given client certificate', () => {
    expect(() => load({ url: 'amqps://r.test', routing_key: 'sms.{region}' })).toThrow(
      'domains[1].target.routing_key has an unknown placeholder {region}: use {domain}, {route}, {match}',
    );
    expect(() => load({ url: 'amqps://r.test', cert_file: '/etc/mb/amqp.crt' })).toThrow(
      'domains[1].target.cert_file and domains[1].target.key_file must be set together',
    );
  });
});

describe('webhook secrets (Standard Webhooks)', () => {
  const withSecret = (secret: string) => ({
    domains: [
      { name: 'default' },
      { name: 'acme', target: { type: 'webhook', url: 'https://gw.acme.test/in', secret } },
    ],
  });

  it('takes any plain secret and a whsec_ secret that is base64 of 16 bytes or more', () => {
    for (const secret of ['s', 'whsec-like but plain', `whsec_${Buffer.alloc(32, 7).toString('base64')}`])
      expect(loadConfig({ values: withSecret(secret), env: {} }).domains[1]?.target.secret).toBe(secret);
  });

  it('refuses a whsec_ secret a Standard Webhooks library could not decode, naming the key', () => {
    for (const secret of ['whsec_', 'whsec_not base64!', `whsec_${Buffer.alloc(8).toString('base64')}`])
      expect(() => loadConfig({ values: withSecret(secret), env: {} })).toThrow(
        'domains[1].target.secret starts with whsec_ but is not whsec_ followed by base64',
      );
  });

  it('holds the status callback secret to the same rule: it signs webhook-signature alike', () => {
    const withCallbackSecret = (secret: string) => ({
      domains: [{ name: 'default' }, { name: 'acme', status_callback: { secret, allowed_hosts: ['cb.acme.test'] } }],
    });
    const good = `whsec_${Buffer.alloc(24, 3).toString('base64')}`;
    for (const secret of ['plain callback secret', good])
      expect(loadConfig({ values: withCallbackSecret(secret), env: {} }).domains[1]?.status_callback.secret).toBe(
        secret,
      );
    // `whsec_abc` would key every callback's webhook-signature with two bytes.
    for (const secret of ['whsec_abc', 'whsec_not base64!', `whsec_${Buffer.alloc(8).toString('base64')}`])
      expect(() => loadConfig({ values: withCallbackSecret(secret), env: {} }), secret).toThrow(
        'domains[1].status_callback.secret starts with whsec_ but is not whsec_ followed by base64',
      );
  });
});

describe('substituteEnv in comments', () => {
  it('leaves ${NAME} in comment lines alone, so the shipped config.yaml loads with no variables set', () => {
    expect(substituteEnv('# use ${SECRET} here\na: 1', {})).toBe('# use ${SECRET} here\na: 1');
    expect(() => loadConfig({ file: 'config.yaml', env: {} })).not.toThrow();
  });
});

describe('metrics.client_names (issue #17: a tenant could name a client "metrics")', () => {
  const load = (clientNames: string[], ops: Record<string, unknown> = { name: 'ops', active: false }) =>
    loadConfig({ values: { metrics: { client_names: clientNames }, domains: [{ name: 'default' }, ops] }, env: {} });

  it('names nobody by default: only loopback scrapes until an operator lists a CN', () => {
    expect(loadConfig({ values: {}, env: {} }).metrics.client_names).toEqual([]);
  });

  it('takes full CNs in a domain that accepts no messages', () => {
    expect(load(['metrics.ops']).metrics.client_names).toEqual(['metrics.ops']);
  });

  it('refuses the old bare name, naming the key and the fix', () => {
    expect(() => load(['metrics'])).toThrow(ConfigError);
    expect(() => load(['metrics'])).toThrow(
      /metrics\.client_names\[0\] "metrics" must be a full certificate CN.*"metrics\.ops".*active: false/,
    );
  });

  it('refuses a CN in a domain that accepts messages, or in one not configured', () => {
    expect(() => load(['metrics.default'])).toThrow(
      /metrics\.client_names\[0\].*domain "default", which accepts messages/,
    );
    expect(() => load(['metrics.ops'], { name: 'ops' })).toThrow(/accepts messages/);
    expect(() => load(['metrics.elsewhere'])).toThrow(/domain "elsewhere", which is not configured/);
  });
});
