/**
 * How the dispatcher sends one attempt, whatever the target: a webhook POST
 * (webhook-client.ts) or an AMQP publish with a publisher confirm (amqp-transport.ts).
 * The dispatcher owns slots, retries, the breaker and dead letters; a transport only
 * answers "taken", "try again" or "never".
 */
import type { WebhookClient, WebhookOutcome, WebhookPayload } from './webhook-client.js';

/** `ok`, or a failure that is `retryable` (the retry policy decides) or terminal (dead letter at once). */
export type DeliveryOutcome = WebhookOutcome;

/** What the attempt's route chose, for targets that use it (an amqp routing key's `{route}` / `{match}`). */
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
} as const;

export interface DeliveryTransport {
  /** Never rejects: every failure is an outcome. */
  deliver(payload: WebhookPayload, route?: DeliveryRoute): Promise<DeliveryOutcome>;
  close(): Promise<void>;
}

/** A webhook target as a transport: one POST per attempt over the client's pool. */
export function webhookTransport(
  client: WebhookClient,
  target: { url: string; secret: string; timeoutMs: number },
): DeliveryTransport {
  return {
    deliver: (payload) => client.post(target, payload),
    close: () => client.close(),
  };
}
