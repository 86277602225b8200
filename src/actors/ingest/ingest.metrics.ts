/**
 * The ingest actor's metrics: what became durable in Redis, per group-commit batch.
 * `mb_ingest_appended_total` is the ground truth for "accepted": it also counts a message
 * whose 202 never reached its client (timeout after Redis said yes), which
 * `proxy_messages_enqueued_total` (messages the front saw queued) cannot.
 */
import { CounterFamily, HistogramFamily, type CounterSeries } from '../../metrics/fast-series.js';
import type { EnqueueRequest, EnqueueResult } from '../../ingest/ingest.types.js';

const appended = new CounterFamily(
  'mb_ingest_appended_total',
  'Messages appended to a domain stream (durable in Redis), by domain',
  ['domain'],
);
const refused = new CounterFamily(
  'mb_ingest_append_failures_total',
  'Messages Redis did not take (answered 503)',
).series();
const batchSize = new HistogramFamily(
  'mb_ingest_batch_size',
  'Messages per group commit (one Redis pipeline)',
  [],
  [1, 2, 5, 10, 25, 50, 100, 250, 512],
).series();
const batchDuration = new HistogramFamily(
  'mb_ingest_append_duration_seconds',
  'Time Redis took to take one group commit',
  [],
  [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
).series();

const byDomain = new Map<string, CounterSeries>();

/** Every configured domain shows from the start (at 0). */
export function initIngestMetrics(domains: Iterable<string>): void {
  for (const domain of domains) byDomain.set(domain, appended.series(domain));
}

export function observeAppendBatch(
  results: ReadonlyArray<{ ok: boolean }>,
  domains: ReadonlyArray<string>,
  seconds: number,
): void {
  batchSize.observe(results.length);
  batchDuration.observe(seconds);
  let failed = 0;
  results.forEach((result, i) => {
    if (!result.ok) failed++;
    else byDomain.get(domains[i]!)?.inc();
  });
  if (failed > 0) refused.inc(failed);
}

/** One enqueue batch: every message that became durable counts for its domain; limits refusals are not Redis failures. */
export function observeEnqueue(
  requests: ReadonlyArray<EnqueueRequest>,
  results: ReadonlyArray<EnqueueResult>,
  seconds: number,
): void {
  const outcomes: Array<{ ok: boolean }> = [];
  const domains: string[] = [];
  requests.forEach((request, i) => {
    const result = results[i];
    if (!result?.ok) {
      for (let m = 0; m < request.messages.length; m++) {
        outcomes.push({ ok: false });
        domains.push(request.domain);
      }
    } else if (result.kind === 'done') {
      for (const position of result.positions) {
        if (position < 1) continue;
        outcomes.push({ ok: true });
        domains.push(request.domain);
      }
    }
  });
  observeAppendBatch(outcomes, domains, seconds);
}
