/** Heartbeats of instances sharing the real Redis: who is live, whose config differs, whose keys differ, duplicate ids. */
import { spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { Registry } from 'prom-client';
import { describe, expect, it, vi } from 'vitest';
import { configFingerprint, configSectionFingerprints } from '../../src/config/config-fingerprint.js';
import { loadConfig } from '../../src/config/config.js';
import { InstanceHeartbeat } from '../../src/health/instance-heartbeat.js';
import { createLogger } from '../../src/logger.js';
import { instanceKey } from '../../src/queue/keys.js';
import type { KeyIdsReport } from '../../src/crypto/crypto.types.js';
import { SecretFingerprintsRepository } from '../../src/db/secret-fingerprints.repository.js';
import { secretFingerprint } from '../../src/keys/secret-identity.js';
import { createRedis, whenReady } from '../../src/queue/redis-connection.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { TEST_REDIS_URL, useTestDatabase, useTestRedis } from '../support/test-fixtures.js';

const { redis, prefix } = useTestRedis();
const database = useTestDatabase();

function heartbeat(
  instanceId: string,
  fingerprint: string,
  registry = new Registry(),
  configSections?: Record<string, string>,
) {
  const beat = new InstanceHeartbeat({
    redis,
    prefix,
    instanceId,
    version: '1.2.3',
    fingerprint,
    ...(configSections ? { configSections } : {}),
    intervalMs: 1000,
    logger: createLogger('silent'),
    registry,
  });
  return { beat, registry };
}

async function gauge(registry: Registry, name: string): Promise<number | undefined> {
  const metric = await registry.getSingleMetric(name)?.get();
  return metric?.values[0]?.value;
}

describe('instance heartbeat', () => {
  it('announces itself with a TTL and sees the other instances', async () => {
    const a = heartbeat('a', 'f'.repeat(64));
    const b = heartbeat('b', 'f'.repeat(64));
    await a.beat.start();
    await b.beat.start();
    await a.beat.beat();
    const stored = JSON.parse((await redis.get(instanceKey(prefix, 'a')))!) as Record<string, unknown>;
    expect(stored).toMatchObject({ instance_id: 'a', version: '1.2.3', fingerprint: 'f'.repeat(64), pid: process.pid });
    expect(Date.parse(String(stored.started_at))).not.toBeNaN();
    const ttl = await redis.pttl(instanceKey(prefix, 'a'));
    expect(ttl).toBeGreaterThan(2000);
    expect(ttl).toBeLessThanOrEqual(3000);

    const component = a.beat.component();
    expect(component.status).toBe('up');
    expect((component.instances as Array<{ instance_id: string }>).map((i) => i.instance_id).sort()).toEqual([
      'a',
      'b',
    ]);
    expect(await gauge(a.registry, 'mb_config_fingerprint_mismatch')).toBe(0);
    expect(await gauge(a.registry, 'mb_instances_live')).toBe(2);

    await b.beat.stop();
    await a.beat.beat();
    expect(await gauge(a.registry, 'mb_instances_live')).toBe(1);
    expect(await redis.exists(instanceKey(prefix, 'b'))).toBe(0);
    await a.beat.stop();
  });

  it('flags instances whose config fingerprint differs, in health and in the gauge', async () => {
    const c = heartbeat('c', '1'.repeat(64));
    const d = heartbeat('d', '2'.repeat(64));
    await c.beat.start();
    await d.beat.start();
    await c.beat.beat();
    const component = c.beat.component();
    expect(component.status).toBe('degraded');
    expect(component.problems).toEqual(['config differs on: d']);
    expect(
      (component.instances as Array<{ instance_id: string; config_matches: boolean }>).find(
        (i) => i.instance_id === 'd',
      )?.config_matches,
    ).toBe(false);
    expect(await gauge(c.registry, 'mb_config_fingerprint_mismatch')).toBe(1);
    expect(await gauge(d.registry, 'mb_config_fingerprint_mismatch')).toBe(1);
    await d.beat.stop();
    await c.beat.beat();
    expect(await gauge(c.registry, 'mb_config_fingerprint_mismatch')).toBe(0);
    await c.beat.stop();
  });

  it('names the config keys that differ, in health and in the log, without any value', async () => {
    const load = (values: Record<string, unknown>) => loadConfig({ values, env: {} });
    const secret = 'acme-secret-0123456789abcdef';
    const acme = { name: 'acme', target: { type: 'webhook', url: 'https://acme.example/hook', secret } };
    const mine = load({ domains: [{ name: 'default' }, acme], delivery: { max_attempts: 5 } });
    const theirs = load({
      domains: [{ name: 'default' }, { ...acme, target: { ...acme.target, secret: `${secret}-rotated` } }],
      delivery: { max_attempts: 9 },
    });
    const lines: string[] = [];
    const logger = createLogger('info', {}, { write: (line: string) => void lines.push(line) });
    const e = new InstanceHeartbeat({
      redis,
      prefix,
      instanceId: 'e',
      version: '1.2.3',
      fingerprint: configFingerprint(mine),
      configSections: configSectionFingerprints(mine),
      intervalMs: 1000,
      logger,
      registry: new Registry(),
    });
    const f = heartbeat('f', configFingerprint(theirs), new Registry(), configSectionFingerprints(theirs));
    await f.beat.start();
    await e.start();
    const component = e.component();
    expect(component.status).toBe('degraded');
    expect(component.problems).toEqual([
      'config differs on: f (keys: delivery.max_attempts, domains.acme, domains.default)',
    ]);
    const other = (component.instances as Array<Record<string, unknown>>).find((i) => i.instance_id === 'f');
    expect(other).toMatchObject({
      config_matches: false,
      differing_keys: ['delivery.max_attempts', 'domains.acme', 'domains.default'],
    });
    expect(other?.config_sections).toBeUndefined();
    const warning = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.mismatched);
    expect(warning?.mismatched).toEqual([
      {
        instance_id: 'f',
        fingerprint: configFingerprint(theirs),
        differing_keys: ['delivery.max_attempts', 'domains.acme', 'domains.default'],
      },
    ]);
    const said = JSON.stringify([component, lines, await redis.get(instanceKey(prefix, 'e'))]);
    for (const value of [secret, 'acme.example']) expect(said).not.toContain(value);
    await e.stop();
    await f.beat.stop();
  });

  it('notices another process using the same instance_id', async () => {
    const first = heartbeat('same', '3'.repeat(64));
    const second = heartbeat('same', '3'.repeat(64));
    await first.beat.start();
    // As if another live process of this host wrote it (this test's parent runs).
    const written = JSON.parse((await redis.get(instanceKey(prefix, 'same')))!) as Record<string, unknown>;
    await redis.set(instanceKey(prefix, 'same'), JSON.stringify({ ...written, pid: process.ppid }), 'PX', 3000);
    await second.beat.start();
    const component = second.beat.component();
    expect(component.status).toBe('degraded');
    expect(String(component.problems)).toContain('uses instance_id same');
    // The other's entry is not withdrawn by a stop: only its own.
    await first.beat.stop();
    expect(await redis.exists(instanceKey(prefix, 'same'))).toBe(1);
    await second.beat.stop();
    expect(await redis.exists(instanceKey(prefix, 'same'))).toBe(0);
  });

  it('takes the heartbeat of a process of this host that is gone (kill -9, then a restart) for its own', async () => {
    const predecessor = spawnSync(process.execPath, ['-e', '0']).pid; // exited: its pid is free
    await redis.set(
      instanceKey(prefix, 'restarted'),
      JSON.stringify({
        instance_id: 'restarted',
        host: hostname(),
        pid: predecessor,
        boot_id: 'before',
        fingerprint: 'x',
      }),
      'PX',
      3000,
    );
    const after = heartbeat('restarted', '4'.repeat(64));
    await after.beat.start();
    expect(after.beat.component().status).toBe('up');
    await after.beat.stop();
  });

  it('flags a live instance whose data key is not the installation’s, by id, never the key', async () => {
    const record = new SecretFingerprintsRepository(database.handle.db);
    const keysOf = (key: Buffer, pepper: Buffer): KeyIdsReport => ({
      active_key_id: 'k1',
      key_ids: ['k1'],
      active_key_since: 0,
      pepper_id: 'p1',
      pepper_ids: ['p1'],
      active_pepper_since: 0,
      fingerprints: [
        { kind: 'key', secret_id: 'k1', fingerprint: secretFingerprint(key) },
        { kind: 'pepper', secret_id: 'p1', fingerprint: secretFingerprint(pepper) },
      ],
    });
    const pepper = randomBytes(32);
    const [ours, theirs] = [randomBytes(32), randomBytes(32)];
    const lines: string[] = [];
    const make = (instanceId: string, key: Buffer, logger = createLogger('silent')) => {
      const registry = new Registry();
      const beat = new InstanceHeartbeat({
        redis,
        prefix,
        instanceId,
        version: '1.2.3',
        fingerprint: '4'.repeat(64),
        intervalMs: 1000,
        logger,
        registry,
        keys: async () => keysOf(key, pepper),
        installationSecrets: () => record.all(),
        recordSecrets: (held) => record.recordFirstUse(held),
      });
      return { beat, registry };
    };
    const g = make('g', ours, createLogger('info', {}, { write: (line: string) => void lines.push(line) }));
    await g.beat.start(); // first: its k1 and p1 become the installation's
    const h = make('h', theirs);
    await h.beat.start();
    await g.beat.beat();

    for (const { beat, registry } of [g, h]) {
      const component = beat.component();
      expect(component.status).toBe('degraded');
      expect(component.problems).toEqual([
        expect.stringMatching(/^h \(\S+\) holds data key k1 not the installation's/),
      ]);
      expect(await gauge(registry, 'mb_secret_mismatch_instances')).toBe(1);
    }
    const shown = (g.beat.component().instances as Array<Record<string, unknown>>).find((i) => i.instance_id === 'h');
    expect(shown).toMatchObject({ secrets_match: false, differing_secrets: ['data key k1'] });
    expect(shown?.secrets).toBeUndefined();
    expect(lines.some((l) => l.includes("not the installation's"))).toBe(true);
    // The heartbeat carries fingerprints, never a key.
    const announced = String(await redis.get(instanceKey(prefix, 'h')));
    expect(announced).toContain(secretFingerprint(theirs));
    for (const secret of [theirs, pepper]) {
      expect(announced).not.toContain(secret.toString('base64'));
      expect(announced).not.toContain(secret.toString('hex'));
    }

    await h.beat.stop();
    await g.beat.beat();
    expect(g.beat.component().status).toBe('up');
    expect(await gauge(g.registry, 'mb_secret_mismatch_instances')).toBe(0);
    await g.beat.stop();
  });

  it('names the cause of a Redis outage in its problem, not ioredis\' "Stream isn\'t writeable"', async () => {
    const target = new URL(TEST_REDIS_URL);
    const proxy = await TcpProxy.create(target.hostname, Number(target.port));
    const config = loadConfig({
      values: { redis: { url: `redis://127.0.0.1:${proxy.port}`, command_timeout_ms: 500 } },
      env: {},
    });
    const cut = createRedis(config, 'front');
    cut.on('error', () => undefined);
    try {
      await whenReady(cut);
      const beat = new InstanceHeartbeat({
        redis: cut,
        prefix,
        instanceId: 'outage',
        version: '1.2.3',
        fingerprint: 'f'.repeat(64),
        intervalMs: 1000,
        logger: createLogger('silent'),
        registry: new Registry(),
      });
      await proxy.cut();
      await vi.waitFor(() => expect(cut.status).not.toBe('ready'));
      // Several retries fail with ECONNREFUSED meanwhile.
      await new Promise((resolve) => setTimeout(resolve, 1000));
      await beat.beat();
      expect(beat.component().problems).toEqual([
        `heartbeat not written: connect ECONNREFUSED 127.0.0.1:${proxy.port}`,
      ]);
    } finally {
      cut.disconnect();
      await proxy.close();
    }
  });

  it('beats as soon as Redis is back, so health stops naming an outage that is over', async () => {
    const target = new URL(TEST_REDIS_URL);
    const proxy = await TcpProxy.create(target.hostname, Number(target.port));
    const config = loadConfig({
      values: { redis: { url: `redis://127.0.0.1:${proxy.port}`, command_timeout_ms: 500 } },
      env: {},
    });
    const back = createRedis(config, 'front');
    back.on('error', () => undefined);
    // A long interval: only the return of Redis can clear the problem within the test.
    const beat = new InstanceHeartbeat({
      redis: back,
      prefix,
      instanceId: 'back',
      version: '1.2.3',
      fingerprint: 'f'.repeat(64),
      intervalMs: 60_000,
      logger: createLogger('silent'),
      registry: new Registry(),
    });
    try {
      await whenReady(back);
      await beat.start();
      await proxy.cut();
      await vi.waitFor(() => expect(back.status).not.toBe('ready'));
      await beat.beat();
      expect(beat.component().problems).toEqual([expect.stringContaining('heartbeat not written')]);
      await proxy.restore();
      await vi.waitFor(() => expect(beat.component().problems ?? []).toEqual([]), { timeout: 10_000 });
    } finally {
      await beat.stop();
      back.disconnect();
      await proxy.close();
    }
  });
});
