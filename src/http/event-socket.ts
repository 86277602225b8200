/**
 * One subscriber's WebSocket: its filter, its keepalive, and the bound on what it may leave
 * unread. The hub hands it every event of its client; it sends those its filter keeps.
 *
 * Memory stays bounded whatever the client does: an event is never queued here, it is
 * written to the socket at once, and a socket with more than `maxBufferedBytes` unsent
 * (a consumer slower than its events) is closed with 4008 instead of buffering on.
 */
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import type { EventBatch, EventSink } from '../events/event-hub.js';
import { countDropped, eventsSent, type DropReason } from '../events/events.metrics.js';
import type { StatusEvent, StatusEventType } from '../events/status-event.js';

/** Close codes the broker uses (4000–4999: the application's own, RFC 6455 §7.4.2). */
export const CLOSE_CODES = {
  /** The broker is shutting down: reconnect (to another broker) with last_event_id. */
  GOING_AWAY: 1001,
  /** A filter frame that is not JSON of the documented shape. */
  POLICY: 1008,
  /** Status events cannot be read (Redis): reconnect later. */
  UNAVAILABLE: 1011,
  /** More unsent than events.ws_max_buffered_bytes: reconnect and read faster, resume by last_event_id. */
  SLOW_CONSUMER: 4008,
  /** The certificate was revoked or the client disabled (the reason says which). */
  REFUSED: 4403,
} as const;

export interface EventFilter {
  messageIds?: ReadonlySet<string>;
  types?: ReadonlySet<StatusEventType>;
}

export interface EventSocketOptions {
  maxBufferedBytes: number;
  pingIntervalMs: number;
  /**
   * The connection under the WebSocket (the upgraded TLS socket): a batch of events is
   * written to it as ready-made frames, one write per socket per read. Without it (a
   * test's plain pair) a batch goes frame by frame through `ws`.
   */
  transport?: Pick<Duplex, 'write'>;
}

/**
 * Each event's frame payload, encoded once: the hub hands the same event object to every
 * subscriber of its client, so ten sockets of one client cost one JSON.stringify and one
 * UTF-8 encoding, not ten. Weak: an event is gone once every socket has written it.
 */
const payloads = new WeakMap<StatusEvent, Buffer>();

function payloadOf(event: StatusEvent): Buffer {
  let payload = payloads.get(event);
  if (!payload) payloads.set(event, (payload = Buffer.from(JSON.stringify(event))));
  return payload;
}

/**
 * Events as the bytes of their WebSocket frames: unfragmented text frames (FIN, opcode 1,
 * no mask: a server's frames are not masked, RFC 6455 §5.1, so the bytes are the same for
 * every socket), one per event, in one Buffer; each event serialised straight into it.
 */
export function textFrames(events: readonly StatusEvent[]): Buffer {
  const texts = events.map((event) => JSON.stringify(event));
  let size = 0;
  for (const text of texts) {
    const length = Buffer.byteLength(text);
    size += length + (length < 126 ? 2 : length < 65_536 ? 4 : 10);
  }
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const text of texts) {
    const length = Buffer.byteLength(text);
    out[at++] = 0x81;
    if (length < 126) out[at++] = length;
    else if (length < 65_536) {
      out[at++] = 126;
      at = out.writeUInt16BE(length, at);
    } else {
      out[at++] = 127;
      at = out.writeBigUInt64BE(BigInt(length), at);
    }
    at += out.write(text, at);
  }
  return out;
}

/** `WebSocket.OPEN` (the type is imported only). */
const OPEN = 1;

/** How long a closing socket may take to say goodbye before it is cut. */
const CLOSE_GRACE_MS = 2000;

export class EventSocket implements EventSink {
  private alive = true;
  private closed = false;
  private readonly pinger: NodeJS.Timeout;

  constructor(
    private readonly socket: WebSocket,
    readonly client: number,
    private filter: EventFilter,
    private readonly options: EventSocketOptions,
  ) {
    socket.on('pong', () => void (this.alive = true));
    this.pinger = setInterval(() => {
      if (!this.alive) {
        countDropped('no_pong');
        this.closed = true;
        socket.terminate();
        return;
      }
      this.alive = false;
      socket.ping();
    }, options.pingIntervalMs);
    this.pinger.unref();
    socket.once('close', () => {
      this.closed = true;
      clearInterval(this.pinger);
    });
  }

  setFilter(filter: EventFilter): void {
    this.filter = filter;
  }

  deliver(event: StatusEvent): void {
    if (this.closed) return;
    if (this.filter.types && !this.filter.types.has(event.type)) return;
    if (this.filter.messageIds && !this.filter.messageIds.has(event.message_id)) return;
    if (this.socket.bufferedAmount > this.options.maxBufferedBytes) {
      this.close(CLOSE_CODES.SLOW_CONSUMER, 'SLOW_CONSUMER', 'slow_consumer');
      return;
    }
    // A Buffer sent as a text frame: ws frames it without copying or encoding again.
    this.socket.send(payloadOf(event), { binary: false });
    eventsSent.inc();
  }

  /**
   * One read's events of the client, in order. Through the transport they are one write of
   * ready-made frames (built once per read, shared with the client's other unfiltered sockets): a TLS socket
   * makes it one record and one syscall, with no per-frame work in `ws`. Safe beside `ws`'s
   * own frames (pings, control frames) because `ws` writes synchronously to the same
   * socket when it does not compress (the server does not negotiate permessage-deflate).
   * The slow-consumer bound is checked once per batch: at most one read's events beyond it.
   */
  deliverBatch(batch: EventBatch): void {
    const { events } = batch;
    const transport = this.options.transport;
    if (!transport) {
      for (const event of events) this.deliver(event);
      return;
    }
    if (this.closed || this.socket.readyState !== OPEN) return;
    const { types, messageIds } = this.filter;
    const kept =
      types || messageIds
        ? events.filter((e) => (!types || types.has(e.type)) && (!messageIds || messageIds.has(e.message_id)))
        : events;
    if (kept.length === 0) return;
    if (this.socket.bufferedAmount > this.options.maxBufferedBytes) {
      this.close(CLOSE_CODES.SLOW_CONSUMER, 'SLOW_CONSUMER', 'slow_consumer');
      return;
    }
    // The frames of the whole read are built once, by the first unfiltered socket of the client.
    transport.write(kept === events ? (batch.encoded ??= textFrames(events)) : textFrames(kept));
    eventsSent.inc(kept.length);
  }

  /** A frame of the broker's own (`subscribed`, an error about a filter frame). */
  sendControl(frame: Record<string, unknown>): void {
    if (!this.closed) this.socket.send(JSON.stringify(frame));
  }

  /** Closes with `code`; a peer that does not complete the close handshake is cut after a grace. */
  close(code: number, reason: string, counted?: DropReason): void {
    if (this.closed) return;
    this.closed = true;
    if (counted) countDropped(counted);
    clearInterval(this.pinger);
    this.socket.close(code, reason);
    setTimeout(() => this.socket.terminate(), CLOSE_GRACE_MS).unref();
  }
}

/** The filter of a query (`message_id`, `type`: comma-separated) or of a filter frame. */
export function filterOf(messageIds: readonly string[] | undefined, types: readonly string[] | undefined): EventFilter {
  const filter: EventFilter = {};
  if (messageIds && messageIds.length > 0) filter.messageIds = new Set(messageIds.map((id) => id.toLowerCase()));
  if (types && types.length > 0) filter.types = new Set(types as StatusEventType[]);
  return filter;
}
