/**
 * The delivery actor's metrics (this thread's fast series; the supervisor merges every thread's).
 * Observed per batch or per settled outcome batch, never per stream entry.
 *
 * How the numbers add up, per domain (summing the `target` label of the per-target series):
 *   mb_messages_stored_total                 = stream entries written to MySQL (replays not counted twice)
 *   store target:   mb_messages_delivered_total = stored
 *   webhook target: mb_delivery_attempts_total{outcome="delivered"|"retry"|"dead"} = every POST
 *                   outcome="retry" = mb_delivery_retries_scheduled_total
 *                   outcome="dead"  = mb_dead_letters_total
 *                   stored = delivered + dead + (scheduled + leased, in Redis)
 *
 * Per target (label `target`: the domain's target name, `default` for a single target):
 * attempts, failures, attempt duration, breaker state and slots — what differs between
 * the downstreams of one domain.
 */
import type { DomainConfig } from '../config/config.js';
import { deliversByAttempts } from '../config/config-resolve.js';
import { AMQP_ERRORS, type DeliveryOutcome } from './delivery-transport.js';
import { CounterFamily, GaugeFamily, HistogramFamily } from '../metrics/fast-series.js';
const perDomain = ['domain'] as const;
const perTarget = ['domain', 'target'] as const;

const stored = new CounterFamily(
  'mb_messages_stored_total',
  'Messages written to MySQL (encrypted), by domain',
  perDomain,
);
const delivered = new CounterFamily(
  'mb_messages_delivered_total',
  'Messages that reached status delivered (store target: once stored; webhook: on a 2xx), by domain',
  perDomain,
);
const attempts = new CounterFamily(
  'mb_delivery_attempts_total',
  'Webhook delivery attempts by domain, target and outcome: delivered (2xx), retry (failed, scheduled again), dead (failed for good)',
  ['domain', 'target', 'outcome'],
);
const failures = new CounterFamily(
  'mb_delivery_failures_total',
  'Failed delivery attempts by domain, target and reason: http_4xx, http_5xx, http_3xx (a redirect, not followed), timeout, network, undecryptable; amqp targets also unroutable (returned: no queue bound), nack, blocked (a RabbitMQ resource alarm)',
  ['domain', 'target', 'reason'],
);
const retries = new CounterFamily(
  'mb_delivery_retries_scheduled_total',
  'Webhook retries scheduled, by domain',
  perDomain,
);
const dead = new CounterFamily(
  'mb_dead_letters_total',
  'Messages failed for good and written to the dead-letter stream, by domain',
  perDomain,
);
const attemptDuration = new HistogramFamily(
  'mb_delivery_attempt_duration_seconds',
  'Duration of one delivery attempt (a webhook POST or an amqp publish and its confirm), by domain and target',
  perTarget,
  [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
);
const slots = new GaugeFamily(
  'mb_delivery_slots',
  'Concurrent delivery attempts a target may have: every slot of the broker (delivery.concurrency), shared with the other webhook and amqp targets',
  perTarget,
);
const guaranteedSlots = new GaugeFamily(
  'mb_delivery_slots_guaranteed',
  'Slots a target is served first with while targets wait for one (its concurrency_share)',
  perTarget,
);
const slotsCapacity = new GaugeFamily(
  'mb_delivery_slots_capacity',
  'Delivery attempts (webhook and amqp) in flight at most, all domains together (delivery.concurrency)',
).series();
const breaker = new GaugeFamily(
  'mb_circuit_breaker_state',
  'Circuit breaker of each webhook downstream (domain and target): 0 closed, 1 half-open, 2 open',
  perTarget,
);
const batchSize = new HistogramFamily(
  'mb_storage_batch_size',
  'Messages per storage batch (one multi-row INSERT)',
  [],
  [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000],
).series();
const batchDuration = new HistogramFamily(
  'mb_storage_batch_duration_seconds',
  'Time to store one batch: INSERT, first attempts scheduled, acknowledgement',
  [],
  [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
).series();
const batchFailures = new CounterFamily(
  'mb_storage_batch_failures_total',
  'Storage batches that failed (entries stay pending and are retried)',
).series();

export type AttemptOutcome = 'delivered' | 'retry' | 'dead';

/** Every configured domain shows from the start (at 0), so rates and alerts have a series. */
export function initDeliveryMetrics(domains: readonly DomainConfig[]): void {
  for (const { name: domain, targets } of domains) {
    stored.series(domain);
    delivered.series(domain);
    const dispatched = targets.filter(deliversByAttempts);
    if (dispatched.length === 0) continue;
    retries.series(domain);
    dead.series(domain);
    for (const { name: target } of dispatched) {
      for (const outcome of ['delivered', 'retry', 'dead'] as const) attempts.series(domain, target, outcome);
      // Closed until the dispatcher reports otherwise.
      breaker.series(domain, target).set(0);
    }
  }
}

/** 0 closed, 1 half-open, 2 open. */
export function setBreakerState(domain: string, target: string, value: number): void {
  breaker.series(domain, target).set(value);
}

export function observeStoredBatch(size: number, seconds: number): void {
  batchSize.observe(size);
  batchDuration.observe(seconds);
}

export function countStored(byDomain: ReadonlyMap<string, { stored: number; delivered: number }>): void {
  for (const [domain, counts] of byDomain) {
    stored.series(domain).inc(counts.stored);
    delivered.series(domain).inc(counts.delivered);
  }
}

export function countBatchFailure(): void {
  batchFailures.inc();
}

export function countAttempts(domain: string, target: string, outcome: AttemptOutcome, count: number): void {
  if (count === 0) return;
  attempts.series(domain, target, outcome).inc(count);
  if (outcome === 'retry') retries.series(domain).inc(count);
  if (outcome === 'dead') dead.series(domain).inc(count);
}

export function countDelivered(domain: string, count: number): void {
  delivered.series(domain).inc(count);
}

export function countFailure(domain: string, target: string, outcome: Extract<DeliveryOutcome, { ok: false }>): void {
  failures.series(domain, target, failureReason(outcome)).inc();
}

export function observeAttempt(domain: string, target: string, seconds: number): void {
  attemptDuration.series(domain, target).observe(seconds);
}

/**
 * Slot gauges (call once per thread): capacities are fixed for the actor's life and set
 * now; slots in use are read when scraped, from the dispatchers themselves.
 */
export function reportSlots(
  total: number,
  targets: ReadonlyArray<{ domain: string; target: string; slots: number; guaranteed: number; inUse: () => number }>,
): void {
  slotsCapacity.set(total);
  for (const t of targets) {
    slots.series(t.domain, t.target).set(t.slots);
    guaranteedSlots.series(t.domain, t.target).set(t.guaranteed);
  }
  new GaugeFamily(
    'mb_delivery_slots_in_use',
    'Delivery attempts (webhook and amqp) in flight, by domain and target (their sum is at most mb_delivery_slots_capacity)',
    perTarget,
    (inUse) => {
      for (const t of targets) inUse.series(t.domain, t.target).set(t.inUse());
    },
  );
}

/** Bounded reasons: the label never carries an error text. */
export function failureReason(outcome: Extract<DeliveryOutcome, { ok: false }>): string {
  if (outcome.status !== undefined)
    return outcome.status >= 500 ? 'http_5xx' : outcome.status >= 400 ? 'http_4xx' : 'http_3xx';
  if (outcome.error === UNDECRYPTABLE) return 'undecryptable';
  if (outcome.error.startsWith(AMQP_ERRORS.unroutable)) return 'unroutable';
  if (outcome.error.startsWith(AMQP_ERRORS.nack)) return 'nack';
  if (outcome.error.startsWith(AMQP_ERRORS.blocked)) return 'blocked';
  return /timeout|aborted|UND_ERR_(HEADERS|BODY)_TIMEOUT/i.test(outcome.error) ? 'timeout' : 'network';
}

export const UNDECRYPTABLE = 'cannot decrypt message';
