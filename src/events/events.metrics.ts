/**
 * Status-event metrics. Publishing happens in the ingest and delivery actors, subscribers
 * live in the main thread: each thread counts in its own registry, merged into /metrics.
 * Every thread that publishes loads this file, so it holds no gauge: a gauge registered in
 * three threads is three series summed (event-subscribers.metrics.ts holds the main thread's).
 */
import { Counter, Histogram } from 'prom-client';
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

export const eventsSent = new Counter({
  name: 'mb_events_sent_total',
  help: 'Status events sent to WebSocket subscribers of this broker',
  registers: [registry],
});

const pushLag = new Histogram({
  name: 'mb_events_push_lag_seconds',
  help: "Time from a status event's append in Redis (its id's time, Redis' clock) to this broker's write of it to its subscribers",
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: [registry],
});

/** One read's events, pushed at `now` (ms): each one's lag since Redis appended it. */
export function observePushLag(eventIds: readonly { event_id: string }[], now: number): void {
  for (const { event_id } of eventIds) {
    const appended = Number(event_id.slice(0, event_id.indexOf('-')));
    if (appended > 0) pushLag.observe(Math.max(0, now - appended) / 1000);
  }
}

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

const trimmedForMemory = new Counter({
  name: 'mb_events_trimmed_for_memory_total',
  help: "Status events removed before their retention because Redis was at the broker's memory limit (events give way to messages)",
  registers: [registry],
});
trimmedForMemory.inc(0);

export function countTrimmedForMemory(count: number): void {
  if (count > 0) trimmedForMemory.inc(count);
}
