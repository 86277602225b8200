/**
 * Status-event metrics. Publishing happens in the ingest and delivery actors, subscribers
 * live in the main thread: each thread counts in its own registry, merged into /metrics.
 */
import { Counter, Gauge } from 'prom-client';
import { registry } from '../metrics/registry.js';
import { STATUS_EVENT_TYPES, type StatusEventType } from './status-event.js';

const published = new Counter({
  name: 'mb_events_published_total',
  help: 'Status events appended to the clients’ event streams in Redis, by type',
  labelNames: ['type'] as const,
  registers: [registry],
});
const publishedByType = new Map(STATUS_EVENT_TYPES.map((t) => [t, published.labels(t)]));
for (const series of publishedByType.values()) series.inc(0);

export function countPublished(type: StatusEventType, count = 1): void {
  if (count > 0) publishedByType.get(type)?.inc(count);
}

export const eventSubscribers = new Gauge({
  name: 'mb_events_subscribers',
  help: 'Event WebSockets open on this broker (clients on /api/v1/events)',
  registers: [registry],
});

export const eventsSent = new Counter({
  name: 'mb_events_sent_total',
  help: 'Status events sent to WebSocket subscribers of this broker',
  registers: [registry],
});

const dropped = new Counter({
  name: 'mb_events_subscribers_dropped_total',
  help: 'Event WebSockets closed by the broker, by reason (slow_consumer, no_pong, refused: revoked or disabled, error)',
  labelNames: ['reason'] as const,
  registers: [registry],
});
export type DropReason = 'slow_consumer' | 'no_pong' | 'refused' | 'error';
for (const reason of ['slow_consumer', 'no_pong', 'refused', 'error'] as const) dropped.labels(reason).inc(0);

export function countDropped(reason: DropReason): void {
  dropped.labels(reason).inc();
}

const callbackAttempts = new Counter({
  name: 'mb_events_callback_attempts_total',
  help: 'Status callback POSTs by outcome (delivered: 2xx; failed: retried later; refused: 4xx, not retried), and callbacks dead-lettered (dead)',
  labelNames: ['outcome'] as const,
  registers: [registry],
});
export type CallbackOutcome = 'delivered' | 'failed' | 'refused' | 'dead';
for (const outcome of ['delivered', 'failed', 'refused', 'dead'] as const) callbackAttempts.labels(outcome).inc(0);

export function countCallbackAttempt(outcome: CallbackOutcome): void {
  callbackAttempts.labels(outcome).inc();
}
