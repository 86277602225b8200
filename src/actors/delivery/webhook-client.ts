/**
 * One webhook POST: JSON body, our client certificate (mTLS to the downstream), an HMAC
 * signature over timestamp and body, and the message id as idempotency key.
 *
 *   X-MB-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
 */
import { createHmac } from 'node:crypto';
import { Agent, request } from 'undici';

export interface WebhookPayload {
  message_id: string;
  client_id: string;
  domain: string;
  sender_number: string;
  message_body: string;
  metadata: unknown;
  queued_at: string;
  attempt: number;
}

export type WebhookOutcome =
  | { ok: true; status: number }
  | { ok: false; status?: number; error: string; retryable: boolean; retryAfterMs?: number };

export interface WebhookTarget {
  url: string;
  secret: string;
  timeoutMs: number;
}

export function signPayload(secret: string, timestamp: number, body: string): string {
  return `t=${timestamp},v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

export class WebhookClient {
  private readonly agent: Agent;

  constructor(tls: { cert?: string; key?: string; ca?: string }, connections: number) {
    this.agent = new Agent({
      connections,
      keepAliveTimeout: 30_000,
      connect: { ...(tls.cert && tls.key ? { cert: tls.cert, key: tls.key } : {}), ...(tls.ca ? { ca: tls.ca } : {}) },
    });
  }

  async post(target: WebhookTarget, payload: WebhookPayload): Promise<WebhookOutcome> {
    const body = JSON.stringify(payload);
    const timestamp = Math.floor(Date.now() / 1000);
    try {
      const response = await request(target.url, {
        method: 'POST',
        dispatcher: this.agent,
        headers: {
          'content-type': 'application/json',
          'idempotency-key': payload.message_id,
          'x-mb-message-id': payload.message_id,
          'x-mb-attempt': String(payload.attempt),
          'x-mb-signature': signPayload(target.secret, timestamp, body),
        },
        body,
        headersTimeout: target.timeoutMs,
        bodyTimeout: target.timeoutMs,
        signal: AbortSignal.timeout(target.timeoutMs),
      });
      // The body is not needed, but must be consumed so the connection can be reused.
      await response.body.dump();
      const status = response.statusCode;
      if (status >= 200 && status < 300) return { ok: true, status };
      const retryAfterMs = parseRetryAfter(response.headers['retry-after']);
      // A 4xx means the downstream will never take this message, except "try later" ones.
      const retryable = status >= 500 || status === 408 || status === 429;
      return { ok: false, status, error: `HTTP ${status}`, retryable, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) };
    } catch (error) {
      const e = error as Error & { code?: string };
      return { ok: false, error: e.code ? `${e.code}: ${e.message}` : e.message, retryable: true };
    }
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}

function parseRetryAfter(value: string | string[] | undefined): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (!text) return undefined;
  const seconds = Number(text);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}
