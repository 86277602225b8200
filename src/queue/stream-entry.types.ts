/** The fields of a domain stream entry, apart from how they are written (stream-writer.ts, stream-entry-codec.ts). */

/**
 * Fields of a stream entry, by the short names they have as stream fields of their own
 * (`queue.entry_format: fields`). The body and the number are sealed before they are
 * appended (AES-256-GCM envelopes, message id bound as AAD): no plaintext body or number
 * is ever written to Redis, so none reaches the AOF or an RDB.
 */
export interface StreamEntryFields {
  m: string; // message_id
  c: string; // client_id (numeric, as text)
  n: string; // client name
  be: Buffer; // message envelope, v2: number and body (names the data key in its header)
  se: Buffer; // '' beside a v2 `be`; the number's own v1 envelope in entries of before v2
  h: string; // hex HMAC of the number under pepper p
  p: string; // pepper id
  sm: string; // masked number, `+123****7890`
  md: string; // metadata JSON or ''
  q: string; // queued_at ISO
  rt: string; // route chosen at submit ('' in entries written before routing)
  tg: string; // its target ('' before routing: the domain's default target)
  rm: string; // what the route matched (an amqp routing key's {match}; '' for a default route or before)
}

/**
 * How entries are written, in the domain streams and the status-event streams alike:
 * `packed`, one field holding every other (stream-entry-codec.ts; an event's JSON,
 * src/events/status-event.ts); `fields`, one stream field each, the form brokers before it
 * write and the only one they read (`queue.entry_format`: a rolling upgrade beside them).
 */
export type EntryFormat = 'packed' | 'fields';
