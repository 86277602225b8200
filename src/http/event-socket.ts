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
import type { EventSink } from '../events/event-hub.js';
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
  /** The connection under the WebSocket (the upgraded TLS socket): corked while a batch is written. */
  transport?: Pick<Duplex, 'cork' | 'uncork'>;
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

  batch(deliverAll: () => void): void {
    const transport = this.options.transport;
    transport?.cork();
    try {
      deliverAll();
    } finally {
      transport?.uncork();
    }
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
