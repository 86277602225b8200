/**
 * What a dispatcher hands one delivery attempt to: a webhook POST (webhook-transport.ts)
 * or an AMQP publish with its publisher confirm (amqp-transport.ts). A transport holds its
 * connections for the life of its dispatcher and does no per-message connection work; the
 * dispatcher owns everything around the attempt (slots, breaker, retry policy, schedule,
 * dead letters), so each kind of target gets them the same way. A transport only answers
 * "taken", "try again" or "never".
 */
import type { WebhookOutcome, WebhookPayload } from './webhook-client.js';

/** The message of one attempt: the webhook's JSON payload is every transport's body. */
export type DeliveryPayload = WebhookPayload;

/**
 * The outcome of one attempt. `retryable: false` fails the message for good (dead letter
 * at once); `retryAfterMs` is the downstream's own wish for the next attempt.
 */
export type DeliveryOutcome = WebhookOutcome;

/** The route that chose the target and what it matched (route-choice.ts), for an amqp routing key's `{route}` / `{match}`. */
export interface DeliveryRoute {
  route?: string;
  match?: string;
}

/** Error texts start with a code: `failureReason` (delivery.metrics.ts) labels by it. */
export const AMQP_ERRORS = {
  unroutable: 'AMQP_UNROUTABLE',
  nack: 'AMQP_NACK',
  channelClosed: 'AMQP_CHANNEL_CLOSED',
  disconnected: 'AMQP_DISCONNECTED',
  timeout: 'AMQP_TIMEOUT',
  blocked: 'AMQP_BLOCKED',
} as const;

export interface DeliveryTransport {
  /**
   * One attempt, bounded by the target's timeout. Never rejects: every failure is an
   * outcome. `signal` aborts when the dispatcher stops (one signal for all its attempts).
   * `route`: the route recorded with the message at submit and what it matched (empty
   * before routing), for a transport that addresses by it (an amqp routing key).
   */
  deliver(payload: DeliveryPayload, signal: AbortSignal, route?: DeliveryRoute): Promise<DeliveryOutcome>;
  /**
   * Optional: `listener` is called when the transport sees its downstream come back (an
   * amqp reconnect, RabbitMQ's alarm lifted), so the dispatcher's breaker can probe at once.
   */
  onRecovered?(listener: () => void): void;
  /** Closes its connections once the dispatcher has stopped. */
  close(): Promise<void>;
}
