import { describe, expect, it } from 'vitest';
import { backlogFull, redisMemory, writeProblems } from './redis-writability.js';

const info = (fields: Record<string, string>) =>
  Object.entries({
    role: 'master',
    aof_enabled: '1',
    aof_last_write_status: 'ok',
    maxmemory: '0',
    used_memory: '1048576',
    maxmemory_policy: 'noeviction',
    ...fields,
  })
    .map(([k, v]) => `${k}:${v}`)
    .join('\r\n');

describe('writeProblems', () => {
  it('finds nothing wrong with a master that has AOF working, noeviction and room', () => {
    expect(writeProblems(info({}))).toEqual([]);
    expect(writeProblems(info({ maxmemory: '2097152' }))).toEqual([]);
  });

  it('names a failed AOF write, an evicting policy, a full memory and a replica', () => {
    expect(writeProblems(info({ aof_last_write_status: 'err' }))).toEqual([expect.stringMatching(/failed AOF write/)]);
    expect(writeProblems(info({ maxmemory_policy: 'allkeys-lru' }))).toEqual([
      expect.stringMatching(/may evict keys \(maxmemory-policy allkeys-lru\)/),
    ]);
    expect(writeProblems(info({ maxmemory: '1048576' }))).toEqual([expect.stringMatching(/out of memory/)]);
    expect(writeProblems(info({ role: 'slave' }))).toEqual([expect.stringMatching(/read-only replica/)]);
  });

  it('does not read an AOF status when AOF is off (durability reports that)', () => {
    expect(writeProblems(info({ aof_enabled: '0', aof_last_write_status: 'err' }))).toEqual([]);
  });
});

describe('redisMemory / backlogFull', () => {
  const limits = { maxBacklogBytes: 0, maxMemoryPercent: 90 };

  it('has no limit without maxmemory or max_backlog_bytes', () => {
    const memory = redisMemory(info({}), limits);
    expect(memory).toEqual({ used: 1048576, maxmemory: 0, limit: 0 });
    expect(backlogFull(memory)).toBeUndefined();
  });

  it('refuses at max_memory_percent of maxmemory, before Redis itself is full', () => {
    expect(redisMemory(info({ maxmemory: '2000000' }), limits).limit).toBe(1_800_000);
    expect(backlogFull(redisMemory(info({ maxmemory: '1100000' }), limits))).toMatch(/broker's limit is 990000/);
    expect(backlogFull(redisMemory(info({ maxmemory: '2000000' }), limits))).toBeUndefined();
  });

  it('takes the lower of max_backlog_bytes and the share of maxmemory', () => {
    expect(redisMemory(info({}), { maxBacklogBytes: 1_000_000, maxMemoryPercent: 90 }).limit).toBe(1_000_000);
    expect(
      redisMemory(info({ maxmemory: '1000000' }), { maxBacklogBytes: 5_000_000, maxMemoryPercent: 50 }).limit,
    ).toBe(500_000);
    expect(backlogFull(redisMemory(info({}), { maxBacklogBytes: 1_000_000, maxMemoryPercent: 90 }))).toMatch(
      /holds 1048576/,
    );
  });

  it('once full, accepts again only below 95% of the limit', () => {
    const memory = { used: 960, maxmemory: 1000, limit: 1000 };
    expect(backlogFull(memory)).toBeUndefined();
    expect(backlogFull(memory, true)).toMatch(/holds 960/);
    expect(backlogFull({ ...memory, used: 940 }, true)).toBeUndefined();
  });
});
