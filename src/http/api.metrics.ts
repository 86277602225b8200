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
