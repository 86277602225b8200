import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BrokerError } from '../errors.js';
import { openEnvelope, sealEnvelope } from './envelope.js';
import { DATA_KEYS_FILE, KeyStore, PEPPER_FILE } from './key-store.js';

let base: string;
let dir: string;

beforeEach(async () => {
  base = await mkdtemp(join(tmpdir(), 'mb-keystore-'));
  dir = join(base, 'nested', 'secrets');
});
afterEach(async () => {
  await rm(base, { recursive: true, force: true });
});

async function mode(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

async function expectRefused(why: RegExp): Promise<void> {
  const error = await KeyStore.loadOrCreate(dir).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(BrokerError);
  expect((error as BrokerError).code).toBe('CRYPTO_FAILURE');
  expect((error as BrokerError).message).toMatch(why);
}

const key32 = Buffer.alloc(32, 7).toString('base64');

describe('KeyStore', () => {
  it('creates the dir 0700 and both files 0600 on first start', async () => {
    const store = await KeyStore.loadOrCreate(dir);
    expect(await mode(dir)).toBe(0o700);
    expect(await mode(join(dir, DATA_KEYS_FILE))).toBe(0o600);
    expect(await mode(join(dir, PEPPER_FILE))).toBe(0o600);
    expect(store.warnings).toEqual([]);
    expect(store.activeKey().id).toBe('k1');
    expect(store.activeKey().key.length).toBe(32);
    expect(store.activePepper().id).toBe('p1');
    const keys = JSON.parse(await readFile(join(dir, DATA_KEYS_FILE), 'utf8'));
    expect(keys).toEqual({ active: 'k1', keys: { k1: store.activeKey().key.toString('base64') } });
    const peppers = JSON.parse(await readFile(join(dir, PEPPER_FILE), 'utf8'));
    expect(peppers).toEqual({ active: 'p1', peppers: { p1: store.activePepper().pepper.toString('base64') } });
    expect((await readdir(dir)).sort()).toEqual([DATA_KEYS_FILE, PEPPER_FILE]); // no temp files left
  });

  it('reads the same keys on a second start', async () => {
    const first = await KeyStore.loadOrCreate(dir);
    const second = await KeyStore.loadOrCreate(dir);
    expect(second.activeKey().key.equals(first.activeKey().key)).toBe(true);
    expect(second.activePepper().pepper.equals(first.activePepper().pepper)).toBe(true);
  });

  it('warns about loose modes without refusing', async () => {
    await KeyStore.loadOrCreate(dir);
    await chmod(join(dir, DATA_KEYS_FILE), 0o644);
    await chmod(dir, 0o755);
    const store = await KeyStore.loadOrCreate(dir);
    expect(store.warnings).toHaveLength(2);
    expect(store.warnings.join('\n')).toMatch(/data-keys\.json has mode 0644/);
    expect(store.warnings.join('\n')).not.toContain(store.activeKey().key.toString('base64'));
  });

  it.each([
    ['not JSON', 'not json {', /not valid JSON/],
    ['an array', '[]', /JSON object/],
    ['no active id', JSON.stringify({ keys: { k1: key32 } }), /"active"/],
    ['an active id that is not there', JSON.stringify({ active: 'k2', keys: { k1: key32 } }), /active id "k2"/],
    [
      'a 16-byte key',
      JSON.stringify({ active: 'k1', keys: { k1: Buffer.alloc(16).toString('base64') } }),
      /not 32 bytes/,
    ],
    ['a key that is not base64', JSON.stringify({ active: 'k1', keys: { k1: '!'.repeat(44) } }), /not 32 bytes/],
    ['a key that is not a string', JSON.stringify({ active: 'k1', keys: { k1: 42 } }), /not 32 bytes/],
    ['a key id that is not ASCII', JSON.stringify({ active: 'clé', keys: { clé: key32 } }), /short ASCII/],
  ])('refuses a data-keys.json that is %s', async (_what, text, why) => {
    await KeyStore.loadOrCreate(dir);
    await writeFile(join(dir, DATA_KEYS_FILE), text);
    await expectRefused(why);
  });

  it('never quotes key material in its refusal', async () => {
    await KeyStore.loadOrCreate(dir);
    const secret = Buffer.alloc(31, 9).toString('base64');
    await writeFile(join(dir, PEPPER_FILE), `{"active":"p1","peppers":{"p1":"${secret}",}}`);
    const error = await KeyStore.loadOrCreate(dir).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error?.message).toMatch(/not valid JSON/);
    expect(error?.message).not.toContain(secret);
  });

  it('refuses a secrets dir that holds only one of the two files', async () => {
    await KeyStore.loadOrCreate(dir);
    await rm(join(dir, PEPPER_FILE));
    await expectRefused(/holds data-keys\.json but not pepper\.json/);
  });

  it('rotates the data key: k2 becomes active, persisted, and old envelopes still open', async () => {
    const store = await KeyStore.loadOrCreate(dir);
    const aad = Buffer.from('m1');
    const old = sealEnvelope(store.activeKey().key, store.activeKey().id, Buffer.from('before'), aad);
    expect(await store.rotateDataKey()).toBe('k2');
    expect(store.activeKey().id).toBe('k2');
    expect(store.keyCount).toBe(2);
    const lookup = (id: string) => store.keyById(id);
    expect(openEnvelope(lookup, old, aad).toString()).toBe('before');

    const reloaded = await KeyStore.loadOrCreate(dir);
    expect(reloaded.activeKey().id).toBe('k2');
    expect(openEnvelope((id) => reloaded.keyById(id), old, aad).toString()).toBe('before');
    expect(await mode(join(dir, DATA_KEYS_FILE))).toBe(0o600);
  });

  it('serialises concurrent rotations and rotates peppers the same way', async () => {
    const store = await KeyStore.loadOrCreate(dir);
    expect(await Promise.all([store.rotateDataKey(), store.rotateDataKey()])).toEqual(['k2', 'k3']);
    expect(await store.rotatePepper()).toBe('p2');
    expect(store.allPeppers().map((p) => p.id)).toEqual(['p2', 'p1']);
    const reloaded = await KeyStore.loadOrCreate(dir);
    expect(reloaded.allKeys().map((k) => k.id)).toEqual(['k1', 'k2', 'k3']);
    expect(reloaded.activePepper().id).toBe('p2');
  });
});
