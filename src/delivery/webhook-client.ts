/**
 * One webhook POST: JSON body (payload version 2, documented in openapi.json under
 * `webhooks`), our client certificate (mTLS to the downstream), two signatures over the
 * same timestamp and body, and the message id as idempotency key:
 *
 *   X-MB-Signature:    t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
 *   webhook-id:        <message id>             (Standard Webhooks, standardwebhooks.com)
 *   webhook-timestamp: <unix seconds>
 *   webhook-signature: v1,<base64 HMAC-SHA256(key, "<id>.<t>.<body>")>
 *
 * Both signatures use the domain's `target.secret`. X-MB-Signature keys its HMAC with the
 * secret as written (unchanged since v1). Standard Webhooks keys it with the secret's bytes:
 * a `whsec_<base64>` secret (what Standard Webhooks tooling generates) gives the decoded
 * bytes, exactly as its libraries read it; any other secret gives its UTF-8 bytes, which a
 * library takes as `whsec_` + base64(secret).
 */
import { createHmac } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { Agent } from 'undici';
import { WEBHOOK_PAYLOAD_VERSION } from './webhook-payload.schemas.js';

export { WEBHOOK_PAYLOAD_VERSION };

export interface WebhookPayload {
  payload_version: typeof WEBHOOK_PAYLOAD_VERSION;
  message_id: string;
  /** The client's certificate CN, `name.domain`, as the API's answers name it. */
  client_id: string;
  domain: string;
  sender_number: string;
  message_body: string;
  metadata: unknown;
  queued_at: string;
  attempt: number;
  /** The target and route chosen at submit (new optional fields: no version bump). */
  target?: string;
  route?: string | null;
}

export type WebhookOutcome =
  | { ok: true; status: number }
  | {
      ok: false;
      status?: number;
      error: string;
      retryable: boolean;
      retryAfterMs?: number;
      /**
       * The downstream answered and refused this message only (an amqp return: no queue bound
       * for its routing key; an amqp nack: a queue bound for it is full): it is up, so the
       * breaker counts it as alive even when retried.
       */
      answered?: boolean;
    };

export interface WebhookTarget {
  url: string;
  secret: string;
  timeoutMs: number;
}

/** More response body than any acknowledgement needs: past it the connection is dropped. */
const MAX_RESPONSE_BODY_BYTES = 64 * 1024;

export function signPayload(secret: string, timestamp: number, body: string): string {
  return `t=${timestamp},v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

const STANDARD_SECRET_PREFIX = 'whsec_';

/** The HMAC key of `webhook-signature` (see the header comment). */
export function standardWebhooksKey(secret: string): Buffer {
  return secret.startsWith(STANDARD_SECRET_PREFIX)
    ? Buffer.from(secret.slice(STANDARD_SECRET_PREFIX.length), 'base64')
    : Buffer.from(secret, 'utf8');
}

/** The value of `webhook-signature`: `v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`. */
export function signStandardWebhook(key: Buffer, id: string, timestamp: number, body: string): string {
  return `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')}`;
}

export class WebhookClient {
  private readonly agent: Agent;
  /** Each target URL parsed once (a domain's URL changes only by a config reload). */
  private readonly origins = new Map<string, { origin: string; path: string }>();
  /** Each secret's Standard Webhooks key decoded once. */
  private readonly standardKeys = new Map<string, Buffer>();

  constructor(tls: { cert?: string; key?: string; ca?: string }, connections: number) {
    // One TLS context for every connection: given cert/key/ca instead, each new socket
    // would parse them again (≈ 4 ms a connection here, 0.5 s for 128 slots at start-up).
    // Without `ca` the context trusts Node's default roots, as tls.connect would.
    const secureContext = createSecureContext({
      ...(tls.cert && tls.key ? { cert: tls.cert, key: tls.key } : {}),
      ...(tls.ca ? { ca: tls.ca } : {}),
    });
    this.agent = new Agent({ connections, keepAliveTimeout: 30_000, connect: { secureContext } });
  }

  /**
   * Through undici's dispatcher API rather than `request()`: no Readable body, no
   * AbortSignal per POST, about half the client CPU per request (measured 0.22 → 0.12 ms),
   * which at thousands of deliveries a second is the delivery actor's largest cost.
   * Never rejects: every failure is an outcome.
   */
  post(target: WebhookTarget, payload: WebhookPayload): Promise<WebhookOutcome> {
    const body = JSON.stringify(payload);
    const timestamp = Math.floor(Date.now() / 1000);
    const url = this.originOf(target.url);
    return new Promise((resolve) => {
      let controller: { abort(reason: Error): void } | undefined;
      let timedOut = false;
      let settled = false;
      let bodyBytes = 0;
      const finish = (outcome: WebhookOutcome) => {
        if (settled) return;
        settled = true;
        resolve(outcome);
      };
      const timeout = () =>
        Object.assign(new Error(`no answer within ${target.timeoutMs} ms`), { code: 'UND_ERR_TIMEOUT' });
      // One deadline for the whole exchange (headersTimeout/bodyTimeout only bound the
      // gaps). A POST still waiting for its connection cannot be aborted yet: it is
      // answered as timed out now and aborted the moment undici starts it. Past the
      // answer's status line it bounds the body's reading only: the outcome is known.
      const timer = setTimeout(() => {
        timedOut = true;
        if (controller) controller.abort(timeout());
        else finish({ ok: false, error: `UND_ERR_TIMEOUT: no answer within ${target.timeoutMs} ms`, retryable: true });
      }, target.timeoutMs);
      try {
        this.agent.dispatch(
          {
            origin: url.origin,
            path: url.path,
            method: 'POST',
            headers: {
              'content-type': 'application/json',
              'idempotency-key': payload.message_id,
              'x-mb-message-id': payload.message_id,
              'x-mb-attempt': String(payload.attempt),
              'x-mb-signature': signPayload(target.secret, timestamp, body),
              'webhook-id': payload.message_id,
              'webhook-timestamp': String(timestamp),
              'webhook-signature': signStandardWebhook(this.keyOf(target.secret), payload.message_id, timestamp, body),
            },
            body,
            headersTimeout: target.timeoutMs,
            bodyTimeout: target.timeoutMs,
          },
          {
            onRequestStart(requestController) {
              controller = requestController;
              if (timedOut) requestController.abort(timeout());
            },
            // The status line is the answer. A 2xx whose body is slow, endless or huge was
            // still taken: waiting for its end turned it into a timeout, and a retry sent the
            // message again each time, until it was dead-lettered.
            // A 1xx (102 Processing, 103 Early Hints) is interim: undici hands it here too,
            // and taken for the answer it failed the message for good while the downstream
            // went on to answer 200. The final answer follows on the same exchange.
            onResponseStart(_controller, statusCode, headers) {
              if (statusCode < 200) return;
              finish(outcomeOf(statusCode, headers['retry-after']));
            },
            // The body is not needed; it is read (within the deadline and MAX_RESPONSE_BODY_BYTES)
            // so the connection can be reused, else the connection is dropped.
            onResponseData(requestController, chunk) {
              bodyBytes += chunk.length;
              if (bodyBytes > MAX_RESPONSE_BODY_BYTES)
                requestController.abort(new Error(`response body over ${MAX_RESPONSE_BODY_BYTES} bytes`));
            },
            onResponseEnd() {
              clearTimeout(timer);
            },
            onResponseError(_controller, error) {
              clearTimeout(timer);
              const e = error as Error & { code?: string };
              finish({ ok: false, error: e.code ? `${e.code}: ${e.message}` : e.message, retryable: true });
            },
          },
        );
      } catch (error) {
        clearTimeout(timer);
        finish({ ok: false, error: (error as Error).message, retryable: true });
      }
    });
  }

  close(): Promise<void> {
    return this.agent.close();
  }

  private keyOf(secret: string): Buffer {
    let key = this.standardKeys.get(secret);
    if (!key) {
      key = standardWebhooksKey(secret);
      this.standardKeys.set(secret, key);
    }
    return key;
  }

  private originOf(target: string): { origin: string; path: string } {
    let parsed = this.origins.get(target);
    if (!parsed) {
      const url = new URL(target);
      parsed = { origin: url.origin, path: `${url.pathname}${url.search}` };
      this.origins.set(target, parsed);
    }
    return parsed;
  }
}

function outcomeOf(status: number, retryAfterHeader: string | string[] | undefined): WebhookOutcome {
  if (status >= 200 && status < 300) return { ok: true, status };
  const retryAfterMs = parseRetryAfter(retryAfterHeader);
  // A 4xx means the downstream will never take this message, except "try later" ones. A
  // 3xx is not followed (a POST redirected is not safe to repeat elsewhere unasked): it
  // says the target URL is out of date — the whole target's problem, not this message's,
  // so it is retried and counts against the breaker until the URL is corrected.
  const redirect = status >= 300 && status < 400;
  const retryable = redirect || status >= 500 || status === 408 || status === 429;
  return {
    ok: false,
    status,
    error: redirect
      ? `HTTP ${status}: redirects are not followed (set the target URL to where it points)`
      : `HTTP ${status}`,
    retryable,
    ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
  };
}

function parseRetryAfter(value: string | string[] | undefined): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (!text) return undefined;
  const seconds = Number(text);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}
