/**
 * compose.yaml parses, keeps Redis durable (AOF, noeviction), starts the broker after
 * healthy Redis and MariaDB, and names the same port, volumes and environment as the
 * README's Docker section — no Docker on the CI host, so this is what can be proven here.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config/config.js';
import { ROOT } from '../support/broker-harness.js';

interface Service {
  image?: string;
  build?: string;
  command?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  stop_signal?: string;
  stop_grace_period?: string;
}

const composeText = readFileSync(join(ROOT, 'compose.yaml'), 'utf8');
const compose = parse(composeText) as { services: Record<string, Service>; volumes: Record<string, unknown> };
const { redis, mariadb, broker } = compose.services as Record<'redis' | 'mariadb' | 'broker', Service>;
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
const dockerSection = readme.slice(
  readme.indexOf('\n## Docker\n'),
  readme.indexOf('\n## ', readme.indexOf('\n## Docker\n') + 5),
);

describe('compose.yaml', () => {
  it('has Redis, MariaDB and the broker', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['broker', 'mariadb', 'redis']);
    expect(broker.build).toBe('.');
  });

  it('keeps Redis durable: AOF on, never evicting', () => {
    const command = redis.command!.join(' ');
    expect(command).toContain('--appendonly yes');
    expect(command).toContain('--maxmemory-policy noeviction');
    expect(redis.healthcheck?.test).toBeDefined();
    expect(mariadb.healthcheck?.test).toBeDefined();
  });

  it('starts the broker once Redis and MariaDB are healthy, and stops it gracefully', () => {
    expect(broker.depends_on).toEqual({
      redis: { condition: 'service_healthy' },
      mariadb: { condition: 'service_healthy' },
    });
    expect(broker.stop_signal).toBe('SIGTERM');
    // The unit gives the same drain 45 s (deploy/message-broker.service: TimeoutStopSec).
    expect(broker.stop_grace_period).toBe('45s');
  });

  it('points the broker at the Redis and MariaDB services, with env names the config loader knows', () => {
    const env = broker.environment!;
    expect(env.MB_REDIS_URL).toBe('redis://redis:6379');
    expect(env.MB_DATABASE_URL).toMatch(/^mysql:\/\/mb:\$\{MB_DB_PASSWORD[^}]*\}@mariadb:3306\/message_broker$/);
    expect(mariadb.environment).toMatchObject({ MARIADB_DATABASE: 'message_broker', MARIADB_USER: 'mb' });
    // Each MB_* variable is a real override: the loader takes it (a typo would be ignored silently).
    const config = loadConfig({
      values: {},
      env: {
        MB_REDIS_URL: env.MB_REDIS_URL!,
        MB_DATABASE_URL: 'mysql://mb:pw@mariadb:3306/message_broker',
        MB_SERVER_PUBLIC_HOSTNAMES: 'broker.example,localhost',
      },
    });
    expect(config.redis.url).toBe('redis://redis:6379');
    expect(config.database.url).toContain('@mariadb:3306/message_broker');
    expect(config.server.public_hostnames).toEqual(['broker.example', 'localhost']);
  });

  it('declares every named volume it mounts', () => {
    const mounted = Object.values(compose.services).flatMap((s) => (s.volumes ?? []).map((v) => v.split(':')[0]!));
    expect(mounted.sort()).toEqual(Object.keys(compose.volumes).sort());
  });

  describe("names what the README's Docker section names", () => {
    it('the port', () => {
      expect(broker.ports).toEqual(['8443:8443']);
      expect(dockerSection).toContain('`8443:8443`');
    });

    it('every volume', () => {
      for (const volume of Object.keys(compose.volumes)) expect(dockerSection, volume).toContain(`\`${volume}\``);
    });

    it("every variable of the broker's environment, with its value, and every variable compose substitutes", () => {
      for (const [name, value] of Object.entries(broker.environment!)) {
        expect(dockerSection, name).toContain(`\`${name}\``);
        expect(dockerSection, value).toContain(value.replace(/:\?[^}]*\}/, '}'));
      }
      const substituted = new Set([...composeText.matchAll(/\$\{(\w+)/g)].map((m) => m[1]!));
      for (const name of substituted) expect(dockerSection, name).toContain(name);
    });

    it('the Redis settings and how to read the first start', () => {
      expect(dockerSection).toContain('--appendonly yes');
      expect(dockerSection).toContain('--maxmemory-policy noeviction');
      expect(dockerSection).toContain('docker compose logs');
    });
  });
});
