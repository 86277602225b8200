/** Metrics of the client API, in the main thread's registry (merged into /metrics). */
import { Counter } from 'prom-client';
import { registry } from '../metrics/registry.js';

export const throttledTotal = new Counter({
  name: 'mb_api_throttled_total',
  help: 'Messages and status lookups refused by the rate limit (reason="rate") or the daily quota (reason="quota")',
  labelNames: ['reason'] as const,
  registers: [registry],
});

/** One child per reason, made once (no label object per refusal), on /metrics at 0 from the start. */
export const throttledByRate = throttledTotal.labels('rate');
export const throttledByQuota = throttledTotal.labels('quota');
throttledByRate.inc(0);
throttledByQuota.inc(0);

export const idempotentReplaysTotal = new Counter({
  name: 'mb_api_idempotent_replays_total',
  help: 'Requests answered from an earlier request with the same Idempotency-Key (nothing queued)',
  registers: [registry],
});

/**
 * Who answered a client certificate → identity lookup: this broker's memory, MySQL (the
 * authority), or the identity cache shared in Redis (MySQL was away); `none` = neither
 * MySQL nor Redis had it, the connection got 503 STORAGE_UNAVAILABLE.
 */
export const identityLookupsTotal = new Counter({
  name: 'mb_identity_lookups_total',
  help: 'Client certificate → identity lookups, by the source that answered (memory, mysql, redis; none = 503 STORAGE_UNAVAILABLE)',
  labelNames: ['source'] as const,
  registers: [registry],
});

export const identityFromMemory = identityLookupsTotal.labels('memory');
export const identityFromMysql = identityLookupsTotal.labels('mysql');
export const identityFromRedis = identityLookupsTotal.labels('redis');
export const identityUnanswered = identityLookupsTotal.labels('none');
for (const series of [identityFromMemory, identityFromMysql, identityFromRedis, identityUnanswered]) series.inc(0);
