/**
 * A message's status events, as clients see them (WebSocket, callbacks) and as they are
 * kept in Redis (one stream per client, src/queue/status-events.ts).
 *
 *   queued           accepted: durable in the domain stream (the 202)
 *   stored           in MySQL
 *   delivered        stored (store target) or accepted by the downstream (webhook)
 *   retry_scheduled  an attempt failed; the next one is due at `next_attempt_at`
 *   failed           given up (last attempt, refused, expired, undecryptable): dead letter
 *   requeued         a dead letter put back on the schedule (retry: attempts kept; redrive: 0)
 *
 * No body, no phone number: an event says what happened to a message id, nothing of what
 * the message holds.
 */
import type { EntryFormat } from '../queue/stream-entry.types.js';

export const STATUS_EVENT_TYPES = ['queued', 'stored', 'delivered', 'retry_scheduled', 'failed', 'requeued'] as const;
export type StatusEventType = (typeof STATUS_EVENT_TYPES)[number];

/**
 * What kind of error a retry_scheduled or failed event names: delivery's failure reasons
 * (src/delivery/delivery.metrics.ts `failureReason`, amqp's `unroutable` and `nack`
 * included) and `expired` (max_age_ms). The OpenAPI enum is this list.
 */
export const STATUS_EVENT_ERROR_CLASSES = [
  'http_5xx',
  'http_4xx',
  'http_3xx',
  'timeout',
  'network',
  'undecryptable',
  'unroutable',
  'nack',
  'expired',
] as const;

/** What a publisher knows; the event id is given by Redis when it is appended. */
export interface StatusEventInput {
  type: StatusEventType;
  message_id: string;
  /** `clients.id`: names the client's event stream. */
  client: number;
  /** `name.domain`, the certificate's CN: what the API calls `client_id`. */
  client_id: string;
  domain: string;
  /** Delivery attempts made so far (0 before the first). */
  attempt: number;
  /** ISO time of the change. */
  at: string;
  /** retry_scheduled: when the next attempt is due (ISO). */
  next_attempt_at?: string;
  /** retry_scheduled and failed: the class of the last error (one of STATUS_EVENT_ERROR_CLASSES). */
  error_class?: string;
}

/** The event on the wire. `event_id` is its Redis stream id: ordered, and what `last_event_id` resumes from. */
export interface StatusEvent {
  event_id: string;
  type: StatusEventType;
  message_id: string;
  client_id: string;
  domain: string;
  attempt: number;
  at: string;
  next_attempt_at?: string;
  error_class?: string;
}

/**
 * The stream entry of an event. `packed` (`queue.entry_format`, the default): one field `j`
 * holding the event as JSON without its id, keys in the wire order — every broker's event
 * reader decodes two strings per event instead of fourteen (ioredis' reply parser was the
 * main thread's largest cost after the socket writes under the events bench). `fields`:
 * short field names, what brokers before it read (a rolling upgrade).
 */
export function toStreamFields(event: StatusEventInput, format: EntryFormat = 'packed'): string[] {
  if (format === 'packed') return [PACKED_EVENT_FIELD, packedEvent(event)];
  const fields = [
    't',
    event.type,
    'm',
    event.message_id,
    'c',
    event.client_id,
    'd',
    event.domain,
    'a',
    String(event.attempt),
    'at',
    event.at,
  ];
  if (event.next_attempt_at !== undefined) fields.push('nx', event.next_attempt_at);
  if (event.error_class !== undefined) fields.push('ec', event.error_class);
  return fields;
}

/** The field of a packed event entry. */
export const PACKED_EVENT_FIELD = 'j';

/** An event as JSON without its id, keys in the order of `StatusEvent` (the Lua scripts write the same). */
export function packedEvent(event: StatusEventInput): string {
  const body: Omit<StatusEvent, 'event_id'> = {
    type: event.type,
    message_id: event.message_id,
    client_id: event.client_id,
    domain: event.domain,
    attempt: event.attempt,
    at: event.at,
  };
  if (event.next_attempt_at !== undefined) body.next_attempt_at = event.next_attempt_at;
  if (event.error_class !== undefined) body.error_class = event.error_class;
  return JSON.stringify(body);
}

/** An entry read back, in either form; undefined when it is not a status event (never trusted blindly). */
export function fromStreamEntry(id: string, flat: readonly string[]): StatusEvent | undefined {
  if (flat.length === 2 && flat[0] === PACKED_EVENT_FIELD) return fromPackedEvent(id, flat[1]!);
  const f = new Map<string, string>();
  for (let i = 0; i + 1 < flat.length; i += 2) f.set(flat[i]!, flat[i + 1]!);
  const type = f.get('t') as StatusEventType | undefined;
  const messageId = f.get('m');
  if (!type || !STATUS_EVENT_TYPES.includes(type) || !messageId) return undefined;
  const event: StatusEvent = {
    event_id: id,
    type,
    message_id: messageId,
    client_id: f.get('c') ?? '',
    domain: f.get('d') ?? '',
    attempt: Number(f.get('a') ?? 0),
    at: f.get('at') ?? '',
  };
  const next = f.get('nx');
  if (next !== undefined) event.next_attempt_at = next;
  const errorClass = f.get('ec');
  if (errorClass !== undefined) event.error_class = errorClass;
  return event;
}

function fromPackedEvent(id: string, json: string): StatusEvent | undefined {
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const { type, message_id: messageId } = parsed;
  if (typeof type !== 'string' || !STATUS_EVENT_TYPES.includes(type as StatusEventType)) return undefined;
  if (typeof messageId !== 'string' || messageId === '') return undefined;
  const text = (value: unknown) => (typeof value === 'string' ? value : '');
  // Rebuilt field by field: the wire carries these keys only, in this order, whatever the entry held.
  const event: StatusEvent = {
    event_id: id,
    type: type as StatusEventType,
    message_id: messageId,
    client_id: text(parsed.client_id),
    domain: text(parsed.domain),
    attempt: typeof parsed.attempt === 'number' ? parsed.attempt : Number(parsed.attempt ?? 0),
    at: text(parsed.at),
  };
  if (typeof parsed.next_attempt_at === 'string') event.next_attempt_at = parsed.next_attempt_at;
  if (typeof parsed.error_class === 'string') event.error_class = parsed.error_class;
  return event;
}

/** Stream ids are `<ms>-<seq>`; a valid `last_event_id` has that shape. */
export const EVENT_ID = /^\d{1,15}-\d{1,15}$/;

/** Orders two stream ids (negative: a before b). */
export function compareEventIds(a: string, b: string): number {
  const [am, as] = a.split('-');
  const [bm, bs] = b.split('-');
  return Number(am) - Number(bm) || Number(as) - Number(bs);
}
