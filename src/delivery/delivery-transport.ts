/**
 * What a dispatcher hands one delivery attempt to: a webhook POST today
 * (webhook-transport.ts), an AMQP publish with its confirm alongside it. A transport
 * holds its connections for the life of its dispatcher and does no per-message
 * connection work; the dispatcher owns everything around the attempt (slots, breaker,
 * retry policy, schedule, dead letters), so each kind of target gets them the same way.
 */
import type { WebhookOutcome, WebhookPayload } from './webhook-client.js';

/** The message of one attempt: the webhook's JSON payload is every transport's body. */
export type DeliveryPayload = WebhookPayload;

/**
 * The outcome of one attempt. `retryable: false` fails the message for good (dead letter
 * at once); `retryAfterMs` is the downstream's own wish for the next attempt.
 */
export type DeliveryOutcome = WebhookOutcome;

export interface DeliveryTransport {
  /**
   * One attempt, bounded by the target's timeout. Never rejects: every failure is an
   * outcome. `signal` aborts when the dispatcher stops (one signal for all its attempts).
   */
  deliver(payload: DeliveryPayload, signal: AbortSignal): Promise<DeliveryOutcome>;
  /** Closes its connections once the dispatcher has stopped. */
  close(): Promise<void>;
}
