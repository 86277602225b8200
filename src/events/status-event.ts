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
  let type: string | undefined;
  let messageId: string | undefined;
  let clientId = '';
  let domain = '';
  let attempt = '0';
  let at = '';
  let next: string | undefined;
  let errorClass: string | undefined;
  // Fields by name, no map per entry: the hub parses every event it reads.
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const value = flat[i + 1]!;
    switch (flat[i]) {
      case 't':
        type = value;
        break;
      case 'm':
        messageId = value;
        break;
      case 'c':
        clientId = value;
        break;
      case 'd':
        domain = value;
        break;
      case 'a':
        attempt = value;
        break;
      case 'at':
        at = value;
        break;
      case 'nx':
        next = value;
        break;
      case 'ec':
        errorClass = value;
        break;
    }
  }
  if (!type || !(STATUS_EVENT_TYPES as readonly string[]).includes(type) || !messageId) return undefined;
  const event: StatusEvent = {
    event_id: id,
    type: type as StatusEventType,
    message_id: messageId,
    client_id: clientId,
    domain,
    attempt: Number(attempt),
    at,
  };
  if (next !== undefined) event.next_attempt_at = next;
  if (errorClass !== undefined) event.error_class = errorClass;
  return event;
}

/** Stream ids are `<ms>-<seq>`; a valid `last_event_id` has that shape. */
export const EVENT_ID = /^\d{1,15}-\d{1,15}$/;

/** Orders two stream ids (negative: a before b). No allocation: the hub compares per read and subscriber. */
export function compareEventIds(a: string, b: string): number {
  const ad = a.indexOf('-');
  const bd = b.indexOf('-');
  return (
    compareDigits(a, 0, ad < 0 ? a.length : ad, b, 0, bd < 0 ? b.length : bd) ||
    compareDigits(a, ad < 0 ? a.length : ad + 1, a.length, b, bd < 0 ? b.length : bd + 1, b.length)
  );
}

/** Two runs of decimal digits as numbers (leading zeros allowed); an empty run is 0. */
function compareDigits(a: string, aFrom: number, aTo: number, b: string, bFrom: number, bTo: number): number {
  while (aFrom < aTo - 1 && a.charCodeAt(aFrom) === 48) aFrom++;
  while (bFrom < bTo - 1 && b.charCodeAt(bFrom) === 48) bFrom++;
  if (aTo - aFrom !== bTo - bFrom) return aTo - aFrom - (bTo - bFrom);
  for (; aFrom < aTo; aFrom++, bFrom++) {
    const d = a.charCodeAt(aFrom) - b.charCodeAt(bFrom);
    if (d !== 0) return d;
  }
  return 0;
}
