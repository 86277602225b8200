/**
 * JSON schemas of the message API, compiled once by Fastify's Ajv at start. They are also
 * the OpenAPI document (`npm run openapi`): descriptions and examples are for integrators.
 */

export const E164_PATTERN = '^\\+[1-9]\\d{1,14}$';
export const MAX_BODY_CHARS = 1000;
export const MAX_METADATA_KEYS = 20;

export const submitMessageBody = {
  type: 'object',
  description: 'One message. Unknown fields are refused.',
  examples: [{ sender_number: '+14155550123', message_body: 'Your code is 4711', metadata: { ref: 'order-42' } }],
  additionalProperties: false,
  required: ['sender_number', 'message_body'],
  properties: {
    sender_number: { type: 'string', pattern: E164_PATTERN, description: 'E.164 number, e.g. +14155550123' },
    message_body: {
      type: 'string',
      minLength: 1,
      maxLength: MAX_BODY_CHARS,
      // At least one non-whitespace character.
      pattern: '\\S',
      description: '1–1000 characters, not only whitespace',
    },
    metadata: {
      type: 'object',
      description: 'Flat key → scalar map passed through to the delivery target (not encrypted: no secrets)',
      maxProperties: MAX_METADATA_KEYS,
      propertyNames: { pattern: '^[A-Za-z0-9_.-]{1,64}$' },
      additionalProperties: {
        anyOf: [{ type: 'string', maxLength: 256 }, { type: 'number' }, { type: 'boolean' }, { type: 'null' }],
      },
    },
  },
} as const;

export const acceptedResponse = {
  type: 'object',
  description: 'The message is durable in the queue (Redis AOF): it will be stored and delivered.',
  required: ['message_id', 'status', 'client_id', 'queued_at', 'position'],
  properties: {
    message_id: { type: 'string', format: 'uuid' },
    status: { type: 'string', enum: ['queued'] },
    client_id: { type: 'string', description: 'The client certificate CN, name.domain' },
    queued_at: { type: 'string', format: 'date-time' },
    position: { type: 'integer', description: 'Place in the domain queue when accepted' },
  },
} as const;

export const errorResponse = {
  type: 'object',
  description:
    'Every error, everywhere. `error_code` is stable (see src/errors.ts); `tracking_id` is also the X-Request-Id header and in the broker log.',
  required: ['error_code', 'message', 'tracking_id', 'timestamp'],
  properties: {
    error_code: { type: 'string', examples: ['INVALID_PAYLOAD'] },
    message: { type: 'string' },
    details: {
      description: 'Depends on the code: the fields at fault for INVALID_PAYLOAD, the limit and reset for 429s',
    },
    tracking_id: { type: 'string' },
    timestamp: { type: 'string', format: 'date-time' },
  },
} as const;

const IDEMPOTENCY_KEY_PATTERN = '^[\\x21-\\x7E]{1,255}$';
export const idempotencyKeyRule = new RegExp(IDEMPOTENCY_KEY_PATTERN);

/** Request headers of the submit routes. */
export const submitHeaders = {
  type: 'object',
  properties: {
    'idempotency-key': {
      type: 'string',
      pattern: IDEMPOTENCY_KEY_PATTERN,
      description:
        'Optional, 1–255 visible ASCII characters, unique per request (a UUID is a good choice). The same key from the same client within ' +
        'idempotency.ttl_ms (24 h) answers with the original response — same status and body, `Idempotent-Replayed: true` — and queues nothing; ' +
        'the same key with a different body is refused with 422 IDEMPOTENCY_KEY_REUSED.',
      examples: ['9b2f4c1e-6d0a-4a57-b1a4-3f3c2e9d8a10'],
    },
  },
} as const;

/** The answer of a refusal by the rate limit or the quota; its headers are described in the README. */
export const throttledResponse = {
  ...errorResponse,
  description:
    '429 TOO_MANY_REQUESTS (rate limit: see RateLimit-* and Retry-After) or QUOTA_EXCEEDED (daily quota: details.resets_at, Retry-After).',
} as const;

/** What every API route may answer besides its success. */
export const errorResponses = { '4xx': errorResponse, 429: throttledResponse, '5xx': errorResponse } as const;

/** OpenAPI: the API authenticates with a client certificate from the broker's CA. */
export const mutualTls = [{ mutualTLS: [] as string[] }];

export interface SubmitMessageBody {
  sender_number: string;
  message_body: string;
  metadata?: Record<string, string | number | boolean | null>;
}
