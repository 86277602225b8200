/**
 * The control protocol every actor serves on its main channel (the Worker's own port),
 * and what the supervisor hands each actor in `workerData`.
 */
import type { MessagePort } from 'node:worker_threads';
import type { BrokerConfig } from '../config/config.js';
import type { MetricFamily } from '../metrics/metric-families.js';

export type ActorName = 'ingest' | 'encryption' | 'delivery' | 'ca';

export interface ActorHealth {
  status: 'up' | 'degraded' | 'down';
  details?: Record<string, unknown>;
}

export type ControlProtocol = {
  /** A new channel to a peer actor (sent again whenever that peer restarts). */
  'actor.wire': { request: { peer: ActorName; port: MessagePort }; response: void };
  'actor.health': { request: Record<string, never>; response: ActorHealth };
  /** Finish the batch in hand, take no new work, release connections. */
  'actor.drain': { request: Record<string, never>; response: void };
  /** A reloaded config. `applied: false` means the actor cannot take it live: restart it. */
  'actor.reconfigure': { request: { config: Readonly<BrokerConfig> }; response: { applied: boolean } };
  /** Fault injection for tests: the actor throws from its event loop. Refused unless enabled. */
  'actor.crash': { request: Record<string, never>; response: void };
  /** This thread's metrics as data (its fast series and prom-client registry); the supervisor merges every thread into /metrics. */
  'actor.metrics': { request: Record<string, never>; response: { families: MetricFamily[] } };
  /**
   * How long since the actor last served a request of its own protocol (from any channel;
   * control requests do not count), and whether it has work in hand or owed that a park
   * would lose. The supervisor parks an on-demand actor on it (src/actors/on-demand.ts).
   */
  'actor.idle': { request: Record<string, never>; response: { idle_ms: number; busy: boolean } };
};

/** What an actor may ask of the supervisor, on its Worker port. */
export type SupervisorProtocol = {
  /**
   * Starts a parked on-demand peer (the delivery actor needs the encryption actor); resolves
   * once it is up and re-wired. ACTOR_UNAVAILABLE when the peer is down (crashed): not a park.
   */
  'supervisor.wake': { request: { actor: ActorName }; response: void };
};

/** A crashing actor's last counts, posted on its Worker port just before the thread dies. */
export interface FinalMetricsMessage {
  kind: 'final-metrics';
  families: MetricFamily[];
}

/** An actor whose setup failed says why before it exits: the supervisor names it if it gives up. */
export interface StartFailedMessage {
  kind: 'start-failed';
  message: string;
}

export interface ActorWorkerData {
  name: ActorName;
  config: Readonly<BrokerConfig>;
  /** Ports to peer actors, keyed by the peer's name. */
  peers: Partial<Record<ActorName, MessagePort>>;
  /** Test-only switch that enables `actor.crash`. */
  faultInjection: boolean;
}
