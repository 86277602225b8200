/** Staging, activation, retirement and reload of the key files (what `mb keys` and the key watcher rely on). */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../logger.js';
import { DATA_KEYS_FILE, KeyStore } from './key-store.js';
import { KeyWatcher } from './key-watcher.js';

let dir: string;
beforeEach(async () => {
  dir = join(await mkdtemp(join(tmpdir(), 'mb-keyrot-')), 'secrets');
});
afterEach(async () => {
  await rm(join(dir, '..'), { recursive: true, force: true });
});

describe('KeyStore rotation', () => {
  it('stages a key without activating it, then activates it', async () => {
    const store = await KeyStore.loadOrCreate(dir);
    expect(await store.addEntry('key', { activate: false })).toBe('k2');
    expect(store.ids('key')).toEqual({ active: 'k1', all: ['k1', 'k2'], retired: [], staged: ['k2'] });
    await store.activate('key', 'k2');
    const reread = await KeyStore.open(dir);
    expect(store.ids('key').staged).toEqual([]);
    expect(reread.activeKey().id).toBe('k2');
    expect(reread.keyById('k1')).toBeDefined();
  });

  it('retires an old key for good, never the active one, and never reuses its id', async () => {
    const store = await KeyStore.loadOrCreate(dir);
    await store.rotateDataKey();
    await store.rotateDataKey();
    await expect(store.retire('key', 'k3')).rejects.toThrow(/active/);
    await store.retire('key', 'k2');
    await store.activate('key', 'k1');
    await store.retire('key', 'k3');
    expect(await store.addEntry('key', { activate: true })).toBe('k4');
    const file = JSON.parse(await readFile(join(dir, DATA_KEYS_FILE), 'utf8'));
    expect(Object.keys(file.keys)).toEqual(['k1', 'k4']);
    expect(file.retired).toEqual(['k2', 'k3']);
    expect((await KeyStore.open(dir)).ids('key').retired).toEqual(['k2', 'k3']);
  });

  it('open() refuses a missing secrets dir instead of minting keys', async () => {
    await expect(KeyStore.open(dir)).rejects.toThrow(/does not exist/);
  });

  it("reload() takes another writer's change and keeps the keys when the file is broken", async () => {
    const broker = await KeyStore.loadOrCreate(dir);
    const cli = await KeyStore.open(dir);
    await cli.rotatePepper();
    expect(await broker.reload()).toBe(true);
    expect(broker.activePepper().id).toBe('p2');
    expect(await broker.reload()).toBe(false);
    const { writeFile } = await import('node:fs/promises');
    await writeFile(join(dir, DATA_KEYS_FILE), '{"active": "k1", "keys": {', { mode: 0o600 });
    await expect(broker.reload()).rejects.toThrow(/not valid JSON/);
    expect(broker.activeKey().id).toBe('k1');
  });

  it('the watcher switches a running store to a key rotated by another process, and says since when', async () => {
    const store = await KeyStore.loadOrCreate(dir);
    const watcher = new KeyWatcher({ store, dir, intervalMs: 100, logger: createLogger('silent') });
    await watcher.start();
    try {
      const before = watcher.activeSince.key;
      await new Promise((r) => setTimeout(r, 20));
      await (await KeyStore.open(dir)).rotateDataKey();
      const deadline = Date.now() + 5000;
      while (store.activeKey().id !== 'k2' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(store.activeKey().id).toBe('k2');
      expect(watcher.activeSince.key).toBeGreaterThan(before);
      expect(watcher.activeSince.pepper).toBe(before);
    } finally {
      watcher.stop();
    }
  });
});
