/** Schemas of `GET /api/v1/messages/{message_id}`. */

import { lookupHeaders200 } from './messages.schemas.js';

export const statusParams = {
  type: 'object',
  required: ['message_id'],
  properties: { message_id: { type: 'string', format: 'uuid', description: 'The id the submit answered with' } },
} as const;

const nullableTime = (description: string) => ({ type: ['string', 'null'], format: 'date-time', description }) as const;

export const statusResponse = {
  type: 'object',
  headers: lookupHeaders200,
  description: "Where one of your messages is. Other clients' messages answer 404, as unknown ones do.",
  required: [
    'message_id',
    'status',
    'client_id',
    'attempt_count',
    'queued_at',
    'stored_at',
    'delivered_at',
    'next_attempt_at',
    'last_error',
    'target',
    'route',
  ],
  properties: {
    message_id: { type: 'string', format: 'uuid' },
    status: {
      type: 'string',
      enum: ['queued', 'delivered', 'failed'],
      description:
        'queued: accepted, not yet delivered (still in the queue when stored_at is null); delivered; failed: gave up after the last attempt',
    },
    client_id: { type: 'string', description: 'The client certificate CN, name.domain' },
    attempt_count: { type: 'integer', description: 'Delivery attempts made (1 once stored, for a store target)' },
    queued_at: { type: 'string', format: 'date-time' },
    stored_at: nullableTime('When the broker stored it in its database; null while it is still in the queue'),
    delivered_at: nullableTime('When it was delivered; null until then'),
    next_attempt_at: nullableTime('When the next delivery attempt is due (webhook targets); null otherwise'),
    last_error: { type: ['string', 'null'], description: 'Why delivery failed, for a failed message; null otherwise' },
    target: {
      type: 'string',
      description: "The domain's target the message was routed to at submit (default: a domain with a single target)",
    },
    route: {
      type: ['string', 'null'],
      description: 'The route that chose the target at submit; null for a message queued before routing',
    },
  },
  examples: [
    {
      message_id: '019af6a0-3c8e-7f3a-9a53-1f0f3f3f8d11',
      status: 'delivered',
      client_id: 'gateway-1.acme',
      attempt_count: 1,
      queued_at: '2025-01-01T12:00:00.000Z',
      stored_at: '2025-01-01T12:00:00.004Z',
      delivered_at: '2025-01-01T12:00:00.180Z',
      next_attempt_at: null,
      last_error: null,
      target: 'eu-gateway',
      route: 'region-eu',
    },
  ],
} as const;

export interface MessageStatusView {
  message_id: string;
  status: 'queued' | 'delivered' | 'failed';
  client_id: string;
  attempt_count: number;
  queued_at: string;
  stored_at: string | null;
  delivered_at: string | null;
  next_attempt_at: string | null;
  last_error: string | null;
  target: string;
  route: string | null;
}
