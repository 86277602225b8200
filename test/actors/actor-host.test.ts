/**
 * `actors.young_generation_mb` and `actors.old_generation_mb` reach the actor thread V8 runs: an ingest actor (real
 * Redis) started through ActorHost, with the limit and with V8's default.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { KeyStore } from '../../src/crypto/key-store.js';
import { ActorHost } from '../../src/actors/actor-host.js';
import { loadConfig } from '../../src/config/config.js';
import { createLogger } from '../../src/logger.js';

let host: ActorHost<never> | undefined;
// The ingest actor seals with the key files the encryption actor creates: made here instead.
const secretsDir = mkdtempSync(join(tmpdir(), 'mb-actor-host-'));
beforeAll(() => KeyStore.loadOrCreate(secretsDir));
afterEach(async () => {
  await host?.stop();
  host = undefined;
});
afterAll(() => rmSync(secretsDir, { recursive: true, force: true }));

function ingestHost(youngMb: number, oldMb = 256): ActorHost<never> {
  const config = loadConfig({
    values: {
      redis: { key_prefix: `mbtest:${randomBytes(5).toString('hex')}:` },
      secrets: { dir: secretsDir },
      actors: { young_generation_mb: youngMb, old_generation_mb: oldMb },
    },
    env: {},
    argv: [],
  });
  return new ActorHost<never>({ name: 'ingest', config, logger: createLogger('silent'), faultInjection: false });
}

describe('ActorHost', () => {
  it('starts the actor thread with the configured young- and old-generation limits', async () => {
    host = ingestHost(16, 256);
    await host.start();
    expect(host.youngGenerationLimitMb).toBe(16);
    expect(host.oldGenerationLimitMb).toBe(256);
  });

  it('leaves V8 its default when the limits are 0', async () => {
    host = ingestHost(0, 0);
    await host.start();
    expect(host.youngGenerationLimitMb).toBeGreaterThan(16);
    expect(host.oldGenerationLimitMb).toBeGreaterThan(256);
  });
});
