/**
 * The webhook payload as a contract: its JSON schema and the OpenAPI 3.1 `webhooks` entry
 * that documents it with its headers and signature scheme (openapi.json, `/docs`). The
 * WebhookClient sends exactly this; a test validates a delivered body against the schema.
 * It imports nothing: the front's OpenAPI document needs it, and the webhook client would
 * load undici into the main thread's isolate (≈ 5 MB of heap) for one number.
 */

/** Bumped when a field changes meaning or goes away; new optional fields do not bump it. */
export const WEBHOOK_PAYLOAD_VERSION = 2;

export const webhookPayloadSchema = {
  title: `Webhook payload, version ${WEBHOOK_PAYLOAD_VERSION}`,
  description:
    "One message, POSTed as JSON to the domain's `target.url`. `payload_version` changes only when a field changes meaning or goes away; new optional fields may appear without it, so ignore fields you do not know. " +
    "Version 1 (before `payload_version` existed) sent the client's internal database id as `client_id`; version 2 sends its certificate CN.",
  type: 'object',
  required: [
    'payload_version',
    'message_id',
    'client_id',
    'domain',
    'sender_number',
    'message_body',
    'metadata',
    'queued_at',
    'attempt',
    'target',
    'route',
  ],
  properties: {
    payload_version: { type: 'integer', const: WEBHOOK_PAYLOAD_VERSION },
    message_id: {
      type: 'string',
      format: 'uuid',
      description: 'The id the API answered with (202); the same on every attempt: deduplicate on it',
    },
    client_id: {
      type: 'string',
      description: "The submitting client's certificate CN, `name.domain`, as the API's answers name it",
      examples: ['gateway-1.acme'],
    },
    domain: { type: 'string', description: 'The domain (tenant) the message belongs to', examples: ['acme'] },
    sender_number: { type: 'string', description: 'E.164, decrypted for this delivery', examples: ['+14155550123'] },
    message_body: { type: 'string', description: 'The message text, decrypted for this delivery' },
    metadata: {
      description: 'The metadata object the client sent, or null',
      oneOf: [{ type: 'object', additionalProperties: true }, { type: 'null' }],
    },
    queued_at: { type: 'string', format: 'date-time', description: 'When the broker accepted the message (UTC)' },
    attempt: { type: 'integer', minimum: 1, description: "This attempt's number, 1 for the first" },
    target: {
      type: 'string',
      description: "The domain's target this delivery is for (`default` for a domain with a single target)",
      examples: ['eu'],
    },
    route: {
      oneOf: [{ type: 'string' }, { type: 'null' }],
      description: 'The route that chose the target at submit; null for a message queued before routing',
      examples: ['uk'],
    },
  },
  additionalProperties: true,
} as const;

const header = (name: string, description: string, example: string) => ({
  name,
  in: 'header',
  required: true,
  description,
  schema: { type: 'string' },
  example,
});

/** The `webhooks` object of the OpenAPI document. */
export const webhookOpenApi = {
  message: {
    post: {
      operationId: 'receiveMessage',
      tags: ['webhooks'],
      summary: "A message delivered to a webhook domain's downstream",
      description: [
        "The broker POSTs each message of a `webhook` domain to `target.url` over HTTPS, presenting its own client certificate (CN `broker.<instance_id>`, issued by the broker's CA) so the downstream may require mutual TLS.",
        '',
        'Delivery is at-least-once: answer 2xx once the message is safely yours, and deduplicate on `message_id` (also `Idempotency-Key` and `webhook-id`). 5xx, 408, 429 (with `Retry-After` honoured), a timeout or a refused connection are retried; any other 4xx fails the message for good.',
        '',
        "**Signatures.** Every POST carries two signatures over the same timestamp and the raw body (verify the bytes received, before parsing), both keyed with the domain's `target.secret`:",
        '',
        '- Standard Webhooks (https://www.standardwebhooks.com, libraries for most languages): `webhook-signature: v1,<base64 HMAC-SHA256(key, "<webhook-id>.<webhook-timestamp>.<body>")>`. The key: if `target.secret` is `whsec_<base64>`, the decoded bytes — give the library the secret as configured; otherwise the UTF-8 bytes of the secret — give the library `whsec_` + base64(secret). Reject a `webhook-timestamp` more than 5 minutes from your clock.',
        '- `X-MB-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(target.secret as written, "<t>.<body>")>` (kept for receivers written against it).',
        '',
        'The header examples are the real signatures of the example body (serialised compactly, keys in the order shown) with `target.secret: example-secret` (a Standard Webhooks library takes it as `whsec_ZXhhbXBsZS1zZWNyZXQ=`).',
      ].join('\n'),
      parameters: [
        header('webhook-id', 'Standard Webhooks message id: the `message_id`', '0b9f7a2e-1c2d-4e5f-8a9b-0c1d2e3f4a5b'),
        header('webhook-timestamp', 'Standard Webhooks timestamp: unix seconds of this attempt', '1796580001'),
        header(
          'webhook-signature',
          'Standard Webhooks signature: `v1,` + base64 HMAC-SHA256 of `<webhook-id>.<webhook-timestamp>.<body>` (see the description for the key)',
          'v1,8f6BgrGeJBqvNCfyH4UVD6KTyRsD3pMpm/oBInnDsXA=',
        ),
        header(
          'X-MB-Signature',
          '`t=<unix seconds>,v1=<hex HMAC-SHA256(target.secret, "<t>.<body>")>`',
          't=1796580001,v1=bb87be3efdc95795a1b2ac4ba20063c83640476c0b8f72af6cdf14ccd7207181',
        ),
        header('Idempotency-Key', 'The `message_id`', '0b9f7a2e-1c2d-4e5f-8a9b-0c1d2e3f4a5b'),
        header('X-MB-Message-Id', 'The `message_id`', '0b9f7a2e-1c2d-4e5f-8a9b-0c1d2e3f4a5b'),
        header('X-MB-Attempt', 'The attempt number, as `attempt` in the body', '1'),
      ],
      requestBody: {
        required: true,
        content: {
          'application/json': {
            schema: webhookPayloadSchema,
            example: {
              payload_version: WEBHOOK_PAYLOAD_VERSION,
              message_id: '0b9f7a2e-1c2d-4e5f-8a9b-0c1d2e3f4a5b',
              client_id: 'gateway-1.acme',
              domain: 'acme',
              sender_number: '+14155550123',
              message_body: 'Gate 4 open',
              metadata: { site: 'north' },
              queued_at: '2026-12-06T18:00:00.000Z',
              attempt: 1,
            },
          },
        },
      },
      responses: {
        '2XX': {
          description:
            'Taken: the message becomes `delivered` on the status line (the body is not needed; one slower than the timeout or over 64 KiB costs only the connection)',
        },
        '3XX': {
          description:
            'Not followed (the target URL is out of date): retried like a 5XX and counted against the circuit breaker',
        },
        '408': { description: 'Retried after `Retry-After` (up to an hour) or the retry interval' },
        '429': {
          description: 'Retried after `Retry-After` (seconds or HTTP date, up to an hour) or the retry interval',
        },
        '4XX': { description: 'Refused for good: the message becomes `failed` and is dead-lettered' },
        '5XX': {
          description: 'Retried after `Retry-After` (up to an hour) or the retry interval, until `max_attempts`',
        },
      },
    },
  },
} as const;
