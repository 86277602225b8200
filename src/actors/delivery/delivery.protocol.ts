/** Requests the supervisor sends to the delivery actor. */
import type { ControlProtocol } from '../actor.protocol.js';
import type { DeliveryStats } from '../../delivery/delivery.types.js';
import type { DispatcherSnapshot } from '../../delivery/target-dispatcher.js';

export type DeliveryProtocol = ControlProtocol & {
  'delivery.stats': { request: Record<string, never>; response: DeliveryStats };
  /** Per webhook domain: breaker state, slots, attempts in flight, paused or not. */
  'delivery.downstreams': { request: Record<string, never>; response: { downstreams: DispatcherSnapshot[] } };
};
