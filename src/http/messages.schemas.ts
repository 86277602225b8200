/**
 * JSON schemas of the message API, compiled once by Fastify's Ajv at start. They are also
 * the OpenAPI document (`npm run openapi`): descriptions and examples are for integrators.
 */

export const E164_PATTERN = '^\\+[1-9]\\d{1,14}$';
export const MAX_BODY_CHARS = 1000;
export const MAX_METADATA_KEYS = 20;
/**
 * A body must show something: one character that is neither whitespace (JS `\s`, plus
 * Unicode White_Space for U+0085) nor default-ignorable (ZWSP, ZWJ, BOM, bidi and variation
 * selectors, tags…), which renders as nothing, nor a control character (NUL, ESC, DEL, C1:
 * no glyph), nor a combining mark (`\p{M}`: it shows only on a base character, so a body of
 * marks alone shows nothing of its own). Ajv compiles patterns with the `u` flag.
 */
export const VISIBLE_CHARACTER_PATTERN = '[^\\s\\p{White_Space}\\p{Default_Ignorable_Code_Point}\\p{Cc}\\p{M}]';

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
      pattern: VISIBLE_CHARACTER_PATTERN,
      description:
        '1–1000 characters, counted as Unicode code points (not bytes, not UTF-16 units: 😀 counts 1; 👍🏽, a flag or e + U+0301 count 2), ' +
        'at least one of them visible: not only whitespace, invisible (Unicode default-ignorable) ' +
        'characters such as U+200B ZERO WIDTH SPACE, U+200D ZERO WIDTH JOINER or U+FEFF BYTE ORDER MARK, ' +
        'control characters (U+0000–U+001F, U+007F–U+009F) and combining marks (such as U+0301 alone)',
    },
    callback_url: {
      type: 'string',
      pattern: '^https://\\S+$',
      maxLength: 2048,
      description:
        "This message's status events are POSTed here (signed like webhooks, webhook-id = client_id:event_id), instead of the client's callback URL. " +
        'Only to a host the domain allows (status_callback.allowed_hosts), without a user name or password; otherwise 422 INVALID_PAYLOAD',
    },
    metadata: {
      type: 'object',
      description:
        'Flat key → scalar map passed through to the delivery target (not encrypted: no secrets). Values: a string ' +
        '(≤ 256 characters), a number within ±9007199254740991 (2^53 − 1: larger integers lose precision, send them ' +
        'as strings), a boolean or null',
      maxProperties: MAX_METADATA_KEYS,
      propertyNames: { pattern: '^[A-Za-z0-9_.-]{1,64}$' },
      additionalProperties: {
        anyOf: [
          { type: 'string', maxLength: 256 },
          // Past 2^53 − 1 a JSON number is rounded when parsed (…890 becomes …8e+29): refused,
          // not passed on as another number. Such an id belongs in a string.
          { type: 'number', minimum: -Number.MAX_SAFE_INTEGER, maximum: Number.MAX_SAFE_INTEGER },
          { type: 'boolean' },
          { type: 'null' },
        ],
      },
    },
  },
} as const;

/**
 * Response headers, for the OpenAPI document only: Fastify serializes bodies, the routes
 * and the error handler set these by hand. An SDK generator reads headers from here, not
 * from the descriptions.
 */
const requestIdHeader = {
  'X-Request-Id': {
    type: 'string',
    format: 'uuid',
    description:
      "The broker's tracking id of this request (an error's tracking_id, except in an Idempotent-Replayed answer); a client's own is echoed as X-Client-Request-Id",
  },
} as const;
const rateLimitHeaders = {
  'RateLimit-Limit': {
    type: 'integer',
    description: 'Requests allowed per window (on every counted answer, not on a replay)',
  },
  'RateLimit-Remaining': { type: 'integer', description: 'Requests left in the current window' },
  'RateLimit-Reset': { type: 'integer', description: 'Seconds until the window ends' },
  'RateLimit-Policy': { type: 'string', description: '`<limit>;w=<window seconds>`', examples: ['100;w=60'] },
} as const;
const retryAfterHeader = {
  'Retry-After': { type: 'integer', description: 'Seconds to wait: the rate window or the daily quota resets then' },
} as const;
const replayedHeader = {
  'Idempotent-Replayed': {
    type: 'string',
    enum: ['true'],
    description: 'The remembered answer to an earlier request with this Idempotency-Key: nothing was queued now',
  },
} as const;
/** What a submit answers besides its body. */
export const submitHeaders202 = { ...requestIdHeader, ...rateLimitHeaders, ...replayedHeader } as const;
/** The same for a batch, whose refused items set Retry-After. */
export const batchHeaders207 = { ...submitHeaders202, ...retryAfterHeader } as const;
/** What a status lookup answers besides its body. */
export const lookupHeaders200 = { ...requestIdHeader, ...rateLimitHeaders } as const;

export const acceptedResponse = {
  type: 'object',
  headers: submitHeaders202,
  description: 'The message is durable in the queue (Redis AOF): it will be stored and delivered.',
  required: ['message_id', 'status', 'client_id', 'queued_at', 'position'],
  properties: {
    message_id: {
      type: 'string',
      format: 'uuid',
      description:
        'A version 7 UUID: ids sort by acceptance time (its first 48 bits are that time in Unix milliseconds)',
    },
    status: { type: 'string', enum: ['queued'] },
    client_id: { type: 'string', description: 'The client certificate CN, name.domain' },
    queued_at: { type: 'string', format: 'date-time' },
    position: { type: 'integer', description: 'Place in the domain queue when accepted' },
  },
} as const;

export const errorResponse = {
  type: 'object',
  description:
    "Every error, everywhere. `error_code` is stable (see src/errors.ts); `tracking_id` is unique per request, generated by the broker, also the X-Request-Id header and in the broker log; an Idempotent-Replayed answer keeps the original request's tracking_id (its X-Request-Id is the replay's own).",
  required: ['error_code', 'message', 'tracking_id', 'timestamp'],
  properties: {
    error_code: { type: 'string', examples: ['INVALID_PAYLOAD', 'NO_ROUTE'] },
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
  headers: { ...requestIdHeader, ...rateLimitHeaders, ...retryAfterHeader },
} as const;

/** An error answer as a whole (not a batch item's): with its X-Request-Id. */
const errorAnswer = { ...errorResponse, headers: requestIdHeader } as const;

/** A 5xx: a 503 (Redis away, shutting down) also says when to try again (error-handler.ts sendError). */
const serverErrorAnswer = {
  ...errorResponse,
  headers: {
    ...requestIdHeader,
    'Retry-After': { type: 'integer', description: 'On a 503: seconds to wait before sending it again (1)' },
  },
} as const;

/** What every API route may answer besides its success. */
export const errorResponses = { '4xx': errorAnswer, 429: throttledResponse, '5xx': serverErrorAnswer } as const;

/** The same for routes no rate limit or quota counts (events, the admin API): no 429 of their own. */
export const unthrottledErrorResponses = { '4xx': errorAnswer, '5xx': serverErrorAnswer } as const;

/** OpenAPI: the API authenticates with a client certificate from the broker's CA. */
export const mutualTls = [{ mutualTLS: [] as string[] }];

export interface SubmitMessageBody {
  sender_number: string;
  message_body: string;
  callback_url?: string;
  metadata?: Record<string, string | number | boolean | null>;
}
