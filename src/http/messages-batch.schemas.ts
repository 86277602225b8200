/**
 * Schemas of `POST /api/v1/messages/batch`. The route validates only the envelope (an
 * array of 1–100 objects); each item is then validated on its own against the submit
 * schema, so one bad item does not sink the others. The OpenAPI document shows the items
 * with their full schema (`batchBodyDocumented`).
 */
import { batchHeaders207, errorResponse, submitMessageBody, type SubmitMessageBody } from './messages.schemas.js';

export const BATCH_MAX_ITEMS = 100;

const envelope = (items: object) =>
  ({
    type: 'object',
    additionalProperties: false,
    required: ['messages'],
    properties: {
      messages: {
        type: 'array',
        minItems: 1,
        maxItems: BATCH_MAX_ITEMS,
        description: `1–${BATCH_MAX_ITEMS} messages, each validated on its own`,
        items,
      },
    },
  }) as const;

export const batchBody = envelope({ type: 'object' });
export const batchBodyDocumented = {
  ...envelope(submitMessageBody),
  examples: [
    {
      messages: [
        { sender_number: '+14155550123', message_body: 'First' },
        { sender_number: '+447700900123', message_body: 'Second' },
      ],
    },
  ],
};

export const batchItemResult = {
  type: 'object',
  required: ['index', 'status'],
  properties: {
    index: { type: 'integer', description: 'Position of the item in the request, from 0' },
    status: {
      type: 'integer',
      enum: [202, 422, 429],
      description: '202 queued; 422 invalid; 429 refused by the rate limit or the daily quota',
    },
    message_id: {
      type: 'string',
      format: 'uuid',
      description:
        'A version 7 UUID: ids sort by acceptance time (its first 48 bits are that time in Unix milliseconds)',
    },
    queued_at: { type: 'string', format: 'date-time' },
    position: { type: 'integer', description: 'Place in the domain queue when accepted' },
    error: errorResponse,
  },
} as const;

export const batchResponse = {
  type: 'object',
  headers: batchHeaders207,
  description:
    'Multi-status: one result per item, in order. Accepted items are durable (one group commit) before this answer. ' +
    'Items refused by the rate limit or quota are not queued: send them again later (with a new Idempotency-Key).',
  required: ['accepted', 'refused', 'results'],
  properties: {
    accepted: { type: 'integer' },
    refused: { type: 'integer' },
    results: { type: 'array', items: batchItemResult },
  },
  examples: [
    {
      accepted: 1,
      refused: 1,
      results: [
        {
          index: 0,
          status: 202,
          message_id: '019af6a0-3c8e-7f3a-9a53-1f0f3f3f8d11',
          queued_at: '2025-01-01T12:00:00.000Z',
          position: 3,
        },
        {
          index: 1,
          status: 422,
          error: {
            error_code: 'INVALID_PAYLOAD',
            message: 'The request body does not match the message schema',
            details: [
              {
                field: 'sender_number',
                rule: 'pattern',
                message: 'sender_number must be an E.164 number: + then 2 to 15 digits, not starting with 0',
              },
            ],
            tracking_id: '5d1c3c9e-2b1f-4d8a-9a0e-6c1a1f2b3c4d',
            timestamp: '2025-01-01T12:00:00.000Z',
          },
        },
      ],
    },
  ],
} as const;

export interface BatchBody {
  messages: unknown[];
}

export type BatchItem = SubmitMessageBody;

export interface BatchItemResult {
  index: number;
  status: 202 | 422 | 429;
  message_id?: string;
  queued_at?: string;
  position?: number;
  error?: unknown;
}
