/**
 * Lua scripts, one file each under `lua/` named `<name>-<numKeys>.lua` with a header that
 * documents KEYS/ARGV/returns. Read beside this module: src/queue/lua/ under vitest,
 * dist/queue/lua/ (copied by `npm run build`) in production.
 */
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';

export function script(name: string): string {
  return readFileSync(new URL(`./lua/${name}.lua`, import.meta.url), 'utf8');
}

export interface BrokerScripts {
  claimDue(schedule: string, inflight: string, now: number, limit: number, leaseUntil: number): Promise<string[]>;
  scheduleNew(schedule: string, inflight: string, dueAt: number, ids: string[]): Promise<number>;
}

export function defineScripts(redis: Redis): BrokerScripts {
  redis.defineCommand('mbClaimDue', { numberOfKeys: 2, lua: script('claim-due-2') });
  redis.defineCommand('mbScheduleNew', { numberOfKeys: 2, lua: script('schedule-new-2') });
  const r = redis as Redis & {
    mbClaimDue(...args: Array<string | number>): Promise<string[]>;
    mbScheduleNew(...args: Array<string | number>): Promise<number>;
  };
  return {
    claimDue: (schedule, inflight, now, limit, leaseUntil) => r.mbClaimDue(schedule, inflight, now, limit, leaseUntil),
    scheduleNew: (schedule, inflight, dueAt, ids) => r.mbScheduleNew(schedule, inflight, dueAt, ...ids),
  };
}
