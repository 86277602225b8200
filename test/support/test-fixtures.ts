/**
 * A test file's own database and Redis keys, set up before its tests and cleaned up after
 * them by hooks these functions register. Call them at the top of the file, before any
 * hook of its own that uses them: vitest runs `beforeAll` hooks in order and `afterAll`
 * hooks in reverse, so the file's own hooks see a ready database and the cleanup runs
 * last. Kept apart from test-database.ts, which the benchmarks import outside vitest.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { openDatabase, type DatabaseHandle } from '../../src/db/database.js';
import { deleteKeys } from './broker-harness.js';
import { nameTestDatabase, prepareTestDatabase } from './test-database.js';

export const TEST_REDIS_URL = 'redis://127.0.0.1:6379';

export interface TestDatabaseFixture {
  name: string;
  url: string;
  /** A pool on the database, usable once the file's tests (or its later hooks) run. */
  handle: DatabaseHandle;
}

/** A migrated database of the file's own; the pool is closed and the database dropped after its tests. */
export function useTestDatabase(options: { poolSize?: number } = {}): TestDatabaseFixture {
  const database = nameTestDatabase();
  // A pool connects on first use: opening it now, before the database exists, is safe.
  const handle = openDatabase({ url: database.url, poolSize: options.poolSize ?? 2 });
  beforeAll(() => prepareTestDatabase(database.url));
  afterAll(async () => {
    await handle.close();
    await database.drop();
  });
  return { name: database.name, url: database.url, handle };
}

export interface TestRedisFixture {
  /** `mbtest:<random>:`, the file's own: every key it makes starts with it. */
  prefix: string;
  /** RESP2, like the broker's connections; it connects on first use. */
  redis: Redis;
}

/** A key prefix of the file's own and a connection; the prefix's keys are deleted after its tests. */
export function useTestRedis(): TestRedisFixture {
  const prefix = `mbtest:${randomBytes(5).toString('hex')}:`;
  const redis = new Redis(TEST_REDIS_URL, { protocol: 2, lazyConnect: true });
  afterAll(async () => {
    await deleteKeys(TEST_REDIS_URL, prefix);
    redis.disconnect();
  });
  return { prefix, redis };
}
