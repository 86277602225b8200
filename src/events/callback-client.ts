/**
 * One status callback POST: the event as JSON, signed like a webhook over one timestamp
 * (src/delivery/webhook-client.ts): Standard Webhooks headers with `webhook-id` =
 * `<client_id>:<event_id>` (a receiver drops a repeated id: a retry after a lost answer),
 * and X-MB-Signature. The secret is the domain's `status_callback.secret`.
 */
import { readFileSync } from 'node:fs';
import { Agent, request } from 'undici';
import type { WebhookOutcome } from '../delivery/webhook-client.js';
import { signPayload, signStandardWebhook, standardWebhooksKey } from '../delivery/webhook-client.js';
import type { StatusEvent } from './status-event.js';

export interface CallbackTarget {
  url: string;
  secret: string;
  /** PEM file of the receiver's CA; '' = the system's. */
  caFile: string;
  /** The domain allows messages' own callback URLs: look one up for each event. */
  perMessage?: boolean;
}

/**
 * The `webhook-id` of an event's POSTs: the same on every retry, and unique among every
 * client's events. The event id alone is not: it is a position in the client's own stream
 * (`<ms>-<seq>`), and one store batch appends the events of several clients in the same
 * millisecond, so a domain's receiver would see `…-0` from each and, dropping repeats as
 * told, lose all but the first.
 */
export function callbackWebhookId(event: Pick<StatusEvent, 'client_id' | 'event_id'>): string {
  return `${event.client_id}:${event.event_id}`;
}

export class CallbackClient {
  private readonly agents = new Map<string, Agent>();

  constructor(
    private readonly timeoutMs: number,
    private readonly connections: number,
  ) {}

  /** Never rejects: every failure is an outcome (4xx other than 408/429: not worth retrying). */
  async post(target: CallbackTarget, event: StatusEvent): Promise<WebhookOutcome> {
    const body = JSON.stringify(event);
    const timestamp = Math.floor(Date.now() / 1000);
    const id = callbackWebhookId(event);
    try {
      const response = await request(target.url, {
        method: 'POST',
        dispatcher: this.agentFor(target.caFile),
        headers: {
          'content-type': 'application/json',
          'webhook-id': id,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': signStandardWebhook(standardWebhooksKey(target.secret), id, timestamp, body),
          'x-mb-signature': signPayload(target.secret, timestamp, body),
        },
        body,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      // The status line is the answer (as for webhooks): the body is drained without
      // waiting, so a 2xx with a slow or endless body is not taken for a timeout and sent
      // again; the request's own timeout ends such a body.
      void response.body.dump().catch(() => undefined);
      const status = response.statusCode;
      if (status >= 200 && status < 300) return { ok: true, status };
      // A redirect is not followed: the URL is out of date, which a retry may outlive.
      const redirect = status >= 300 && status < 400;
      return {
        ok: false,
        status,
        error: redirect ? `HTTP ${status}: redirects are not followed` : `HTTP ${status}`,
        retryable: redirect || status >= 500 || status === 408 || status === 429,
      };
    } catch (error) {
      const e = error as Error & { code?: string | number };
      // AbortSignal.timeout's DOMException has a legacy numeric code (23), which read as a
      // cause ("23: The operation was aborted…"): named as the webhook client names it.
      if (e.name === 'TimeoutError')
        return { ok: false, error: `UND_ERR_TIMEOUT: no answer within ${this.timeoutMs} ms`, retryable: true };
      return { ok: false, error: e.code ? `${e.code}: ${e.message}` : e.message, retryable: true };
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.agents.values()].map((agent) => agent.close()));
  }

  private agentFor(caFile: string): Agent {
    let agent = this.agents.get(caFile);
    if (!agent) {
      agent = new Agent({
        connections: this.connections,
        keepAliveTimeout: 30_000,
        ...(caFile ? { connect: { ca: readFileSync(caFile, 'utf8') } } : {}),
      });
      this.agents.set(caFile, agent);
    }
    return agent;
  }
}
