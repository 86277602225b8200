/** The webhook target's transport: one signed HTTPS POST per attempt (webhook-client.ts). */
import type { DeliveryOutcome, DeliveryPayload, DeliveryTransport } from './delivery-transport.js';
import type { WebhookClient, WebhookTarget } from './webhook-client.js';

export class WebhookTransport implements DeliveryTransport {
  constructor(
    /** Its own connection pool, as large as the slots the target may use. */
    private readonly client: WebhookClient,
    private readonly target: WebhookTarget,
  ) {}

  deliver(payload: DeliveryPayload, signal: AbortSignal): Promise<DeliveryOutcome> {
    // No AbortSignal per POST (see WebhookClient.post): a stopping dispatcher only keeps
    // new attempts from starting; those under way end within their timeout.
    if (signal.aborted) return Promise.resolve({ ok: false, error: 'delivery stopped', retryable: true });
    return this.client.post(this.target, payload);
  }

  close(): Promise<void> {
    return this.client.close();
  }
}
