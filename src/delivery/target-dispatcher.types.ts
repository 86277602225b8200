/**
 * The types of a target's dispatcher (target-dispatcher.ts): the rows attempts are built
 * from, what it needs, and what it reports.
 */
import type { DomainConfig, TargetConfig } from '../config/config.js';
import type { DeliveryRow, MessagesRepository } from '../db/messages.repository.js';
import type { EncryptionCalls } from '../actors/encryption/encryption.protocol.js';
import type { Logger } from '../logger.js';
import type { DomainKeys } from '../queue/keys.js';
import type { DeliverySchedule } from '../queue/schedule.js';
import type { EventRetention } from '../queue/status-events.js';
import type { EntryFormat } from '../queue/stream-entry.types.js';
import type { RpcPeer } from '../rpc/rpc-peer.js';
import type { BreakerSnapshot, BreakerState } from './circuit-breaker.js';
import type { DeliveryTransport } from './delivery-transport.js';
import type { RetryPolicy } from './retry-policy.js';
import type { DomainSlots } from './slot-allocator.js';

/** What an attempt is built from: a row read back from MySQL, or one a store batch hands over. */
export type AttemptRow = Pick<
  DeliveryRow,
  | 'message_id'
  | 'client_id'
  | 'client_cn'
  | 'domain'
  | 'body_enc'
  | 'sender_enc'
  | 'metadata'
  | 'queued_at'
  | 'attempt_count'
  | 'target'
  | 'route'
  | 'route_match'
> &
  // A store batch's first attempts were never put back from the dead letters.
  Partial<Pick<DeliveryRow, 'requeued_at'>>;

/** What the store pipeline hands a target's first attempts to (see `TargetDispatcher.takeFirstAttempts`). */
export interface FirstAttemptTaker {
  takeFirstAttempts(rows: readonly AttemptRow[], now: number): Promise<() => void>;
}

export interface DispatcherDeps {
  domain: DomainConfig;
  target: TargetConfig;
  /** The domain's stream and queued index, and this target's schedule, leases and dead letters. */
  keys: DomainKeys;
  /** This target's view of the broker's shared delivery slots. */
  slots: DomainSlots;
  policy: RetryPolicy;
  timeoutMs: number;
  pollIntervalMs: number;
  logger: Logger;
  messages: MessagesRepository;
  schedule: DeliverySchedule;
  encryption: Pick<RpcPeer<EncryptionCalls>, 'call'>;
  /**
   * First attempts it may hold in memory (stored and leased) while its slots are busy,
   * rather than put them on the schedule (`delivery.held_attempts`; 0 = none).
   */
  heldMax: number;
  /** Sends one attempt: a webhook POST or an AMQP publish (delivery-transport.ts). */
  transport: DeliveryTransport;
  breaker: { failures: number; openMs: number };
  /** Where status events go: the Redis key prefix and how long they are kept. */
  /** Where its status events go, and in which entry form (`queue.entry_format`). */
  events: { prefix: string; retention: EventRetention; format: EntryFormat };
  onOutcome(kind: 'delivered' | 'retry' | 'dead', count: number): void;
  onBreakerChange(state: BreakerState): void;
}

export interface DispatcherSnapshot {
  domain: string;
  /** The target's name (`default` for a domain with a single target). */
  target: string;
  operational: boolean;
  /** The most this domain may have in flight: every slot of the broker. */
  slots: number;
  /** Slots it is served first with when domains wait (`concurrency_share`). */
  guaranteed_slots: number;
  in_flight: number;
  /** First attempts held in memory, stored and leased, waiting for a slot. */
  held: number;
  breaker: BreakerSnapshot;
}
