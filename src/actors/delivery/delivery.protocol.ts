/** Requests the supervisor sends to the delivery actor. */
import type { ControlProtocol } from '../actor.protocol.js';
import type { DispatcherSnapshot } from './webhook-dispatcher.js';

export interface DeliveryStats {
  /** Messages written to MySQL by this actor since it started. */
  stored: number;
  delivered: number;
  attempts_failed: number;
  retries_scheduled: number;
  dead_lettered: number;
  store_batches_failed: number;
  /** Webhook attempts running or waiting for a slot right now. */
  in_flight: number;
}

export type DeliveryProtocol = ControlProtocol & {
  'delivery.stats': { request: Record<string, never>; response: DeliveryStats };
  /** Per webhook domain: breaker state, slots, attempts in flight, paused or not. */
  'delivery.downstreams': { request: Record<string, never>; response: { downstreams: DispatcherSnapshot[] } };
};
