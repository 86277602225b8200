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

export const STATUS_EVENT_TYPES = ['queued', 'stored', 'delivered', 'retry_scheduled', 'failed', 'requeued'] as const;
export type StatusEventType = (typeof STATUS_EVENT_TYPES)[number];

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
  /** retry_scheduled and failed: the class of the last error (http_5xx, http_4xx, timeout, network, undecryptable, expired). */
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

/** Short field names keep a stream entry small (as in the domain streams). */
export function toStreamFields(event: StatusEventInput): string[] {
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

/** An entry read back; undefined when it is not a status event (never trusted blindly). */
export function fromStreamEntry(id: string, flat: readonly string[]): StatusEvent | undefined {
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

/** Stream ids are `<ms>-<seq>`; a valid `last_event_id` has that shape. */
export const EVENT_ID = /^\d{1,15}-\d{1,15}$/;

/** Orders two stream ids (negative: a before b). */
export function compareEventIds(a: string, b: string): number {
  const [am, as] = a.split('-');
  const [bm, bs] = b.split('-');
  return Number(am) - Number(bm) || Number(as) - Number(bs);
}
