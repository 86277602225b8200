/**
 * Schemas of `GET /api/v1/events` (WebSocket): the query, and the frames the broker sends.
 * They are the OpenAPI document too.
 */
import { STATUS_EVENT_ERROR_CLASSES, STATUS_EVENT_TYPES } from '../events/status-event.js';

const TYPE = `(?:${STATUS_EVENT_TYPES.join('|')})`;
const UUID = '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}';
/** The most message ids one filter may name. */
export const MAX_FILTER_IDS = 1000;

export const eventsQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    last_event_id: {
      type: 'string',
      pattern: '^\\d{1,15}-\\d{1,15}$',
      description:
        'Resume: the events after this one are sent first (those still kept: events.retention_ms, 1 h by default), then the live ones',
      examples: ['1765000000000-0'],
    },
    message_id: {
      type: 'string',
      pattern: `^${UUID}(?:,${UUID}){0,99}$`,
      description: 'Only the events of these messages (comma-separated, at most 100 here; more in a filter frame)',
    },
    type: {
      type: 'string',
      pattern: `^${TYPE}(?:,${TYPE})*$`,
      description: `Only events of these types (comma-separated): ${STATUS_EVENT_TYPES.join(', ')}`,
    },
  },
} as const;

export interface EventsQuery {
  last_event_id?: string;
  message_id?: string;
  type?: string;
}

/**
 * A filter frame the client may send at any time (it replaces the filter): either list
 * may be left out (no filter on it). Parsed by hand in the route: it is one small shape.
 */
export const UUID_RULE = new RegExp(`^${UUID}$`);

export const statusEventSchema = {
  type: 'object',
  description:
    'One change of state of one of your messages. No body and no number. Sent as one text frame of JSON each, in event_id order.',
  required: ['event_id', 'type', 'message_id', 'client_id', 'domain', 'attempt', 'at'],
  properties: {
    event_id: {
      type: 'string',
      description: 'Unique and ordered (a Redis stream id); give it as last_event_id to resume after it',
      examples: ['1765000000000-0'],
    },
    type: {
      type: 'string',
      enum: [...STATUS_EVENT_TYPES],
      description:
        'queued: accepted (durable); stored: in the database; delivered: stored (store domains) or accepted by the downstream (webhook domains); ' +
        'retry_scheduled: an attempt failed, the next is due at next_attempt_at; failed: given up (dead letter)',
    },
    message_id: { type: 'string', format: 'uuid' },
    client_id: { type: 'string', description: 'The client certificate CN, name.domain' },
    domain: { type: 'string' },
    attempt: { type: 'integer', description: 'Delivery attempts made so far (0 before the first)' },
    at: { type: 'string', format: 'date-time' },
    next_attempt_at: { type: 'string', format: 'date-time', description: 'retry_scheduled only' },
    error_class: {
      type: 'string',
      enum: [...STATUS_EVENT_ERROR_CLASSES],
      description:
        'retry_scheduled and failed: what kind of error the last attempt met (unroutable and nack: amqp targets; expired: older than the max_age_ms of its domain)',
    },
  },
} as const;

export const eventsUpgradeResponse = {
  ...statusEventSchema,
  description:
    'Switching Protocols: a WebSocket. The broker sends status events (this schema) and, once any resumed events are sent, ' +
    'one frame `{"type":"subscribed","last_event_id":"…"}` (from here on, events are live). The client may send a filter frame ' +
    '`{"message_ids":[…],"types":[…]}` at any time; a frame that is not one is answered with ' +
    '`{"type":"error","error_code":"INVALID_PAYLOAD","message":"…"}` and the filter stays as it was (a frame without event_id is ' +
    'never an event). Close codes: 4008 slow consumer (too much unsent), 4403 CERT_REVOKED, CLIENT_DISABLED or CERT_EXPIRED ' +
    '(reason), 1011 events unavailable (Redis), 1001 broker shutting down. A ping is sent every ' +
    'events.ws_ping_interval_ms; a socket that does not answer with a pong by the next one is closed.',
} as const;
