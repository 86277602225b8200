/**
 * The open event WebSockets: a gauge of the main thread only, kept out of
 * events.metrics.ts, which the actors load too (each would report its own 0 beside it).
 */
import { Gauge } from 'prom-client';
import { registry } from '../metrics/registry.js';

export const eventSubscribers = new Gauge({
  name: 'mb_events_subscribers',
  help: 'Event WebSockets open on this broker (clients on /api/v1/events)',
  registers: [registry],
});
