/**
 * What a new config would leave behind in Redis: the accepted work of a domain it no longer
 * has (or whose `key_prefix` it changed), or of a target a routed domain dropped. Only the
 * configured domains' streams and schedules are read: a message still in such a stream has
 * had its 202 but is not stored, and a scheduled one waits for a delivery attempt — neither
 * would ever be taken up again, and neither would show in any metric or health check.
 * Nor would a dropped target's dead letters: failed messages that only `mb dead-letter` or
 * the portal can list and redrive, and only for a configured target (a redrive puts them
 * back on that target's schedule). A reload (src/app/reload.ts) is refused while there is any.
 */
import type { Redis } from 'ioredis';
import type { DomainConfig } from '../config/config.js';
import { domainKeys, targetKeys } from './keys.js';

/** Work under one key a new config would no longer read. */
export interface WorkLeftBehind {
  domain: string;
  /** `unstored` (the domain's stream), `<target> deliveries` (its schedule and leases) or `<target> dead letters`. */
  what: string;
  count: number;
  /** Dead letters only: the target they belong to (what `mb dead-letter redrive --target` names). */
  deadLettersOf?: string;
}

type KeyRole = { domain: string; what: string; kind: 'stream' | 'zset'; deadLettersOf?: string };

function workKeys(prefix: string, domains: readonly DomainConfig[]): Map<string, KeyRole> {
  const keys = new Map<string, KeyRole>();
  for (const domain of domains) {
    keys.set(domainKeys(prefix, domain).stream, { domain: domain.name, what: 'unstored', kind: 'stream' });
    for (const target of domain.targets) {
      const { schedule, inflight, dead } = targetKeys(prefix, domain, target.name);
      const role = { domain: domain.name, what: `${target.name} deliveries`, kind: 'zset' } as const;
      keys.set(schedule, role);
      keys.set(inflight, role);
      keys.set(dead, {
        domain: domain.name,
        what: `${target.name} dead letters`,
        kind: 'stream',
        deadLettersOf: target.name,
      });
    }
  }
  return keys;
}

/**
 * The work `next` would leave unread, by domain and kind (empty: nothing is stranded).
 * Rejects when Redis cannot be asked: a removal that cannot be checked is not safe.
 */
export async function workLeftBehind(
  redis: Redis,
  prefix: string,
  current: readonly DomainConfig[],
  next: readonly DomainConfig[],
): Promise<WorkLeftBehind[]> {
  const kept = workKeys(prefix, next);
  const dropped = [...workKeys(prefix, current)].filter(([key]) => !kept.has(key));
  if (dropped.length === 0) return [];
  const pipeline = redis.pipeline();
  for (const [key, role] of dropped) role.kind === 'stream' ? pipeline.xlen(key) : pipeline.zcard(key);
  const replies = (await pipeline.exec()) ?? [];
  const totals = new Map<string, WorkLeftBehind>();
  dropped.forEach(([, role], i) => {
    const [error, count] = replies[i] ?? [new Error('no reply')];
    if (error) throw error;
    if (Number(count) === 0) return;
    const id = `${role.domain}\n${role.what}`;
    const total = totals.get(id) ?? {
      domain: role.domain,
      what: role.what,
      count: 0,
      ...(role.deadLettersOf === undefined ? {} : { deadLettersOf: role.deadLettersOf }),
    };
    total.count += Number(count);
    totals.set(id, total);
  });
  return [...totals.values()];
}
