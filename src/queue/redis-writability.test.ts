import { describe, expect, it } from 'vitest';
import { writeProblems } from './redis-writability.js';

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
