/**
 * Reads which brokers are alive and which keys each one uses, from the heartbeats every
 * supervisor writes (src/health/instance-heartbeat.ts: an index sorted set plus one
 * expiring key per instance). `mb keys` waits on it until every broker seals with a new
 * key, and refuses to retire a key that one of them still uses.
 */
import type { Redis } from 'ioredis';
import type { InstanceInfo } from '../health/instance-heartbeat.js';
import { instanceKey, instancesIndexKey } from '../queue/keys.js';

export type InstanceReport = InstanceInfo;

/** Instances whose heartbeat has not expired, by id. */
export async function listInstances(redis: Redis, prefix: string): Promise<InstanceReport[]> {
  const ids = await redis.zrange(instancesIndexKey(prefix), '0', '-1');
  if (ids.length === 0) return [];
  // The per-instance key expires on its own (3 intervals); the index may lag behind it.
  const values = await redis.mget(ids.map((id) => instanceKey(prefix, id)));
  const live: InstanceReport[] = [];
  for (const value of values) {
    if (value === null) continue;
    try {
      live.push(JSON.parse(value) as InstanceReport);
    } catch {
      // A foreign or half-written value is no broker we can reason about.
    }
  }
  return live.sort((a, b) => a.instance_id.localeCompare(b.instance_id));
}
