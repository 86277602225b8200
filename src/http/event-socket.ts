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
  /**
   * The connection under the WebSocket (the upgraded TLS socket): corked while a batch is
   * written, and written to directly with a batch's frames for a socket without a filter.
   */
  transport?: Pick<Duplex, 'cork' | 'uncork' | 'write'>;
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

/** A server's text frame header (FIN, opcode 1, unmasked) for `length` payload bytes (RFC 6455 §5.2). */
export function textFrameHeader(length: number): Buffer {
  if (length < 126) return Buffer.from([0x81, length]);
  if (length < 0x10000) return Buffer.from([0x81, 126, length >> 8, length & 0xff]);
  const header = Buffer.alloc(10);
  header[0] = 0x81;
  header[1] = 127;
  header.writeBigUInt64BE(BigInt(length), 2);
  return header;
}

/**
 * One read's events of a client as text frames back to back, built once: the hub hands the
 * same array to every socket of the client, and a socket without a filter writes it as it
 * is — one write per socket and read, where ws' `send` makes two stream writes per event
 * (header and payload), which was most of the main thread's cost per frame.
 */
const batchFrames = new WeakMap<readonly StatusEvent[], Buffer>();

function framesOf(events: readonly StatusEvent[]): Buffer {
  let frames = batchFrames.get(events);
  if (!frames) {
    const parts: Buffer[] = [];
    for (const event of events) {
      const payload = payloadOf(event);
      parts.push(textFrameHeader(payload.length), payload);
    }
    batchFrames.set(events, (frames = Buffer.concat(parts)));
  }
  return frames;
}

/** How long a closing socket may take to say goodbye before it is cut. */
const CLOSE_GRACE_MS = 2000;

/**
 * One timer pings every open socket of one interval: a timer of each socket's own (a
 * `Timeout`, its closure and context, ≈ 0.3 KB) is memory a thousand idle subscribers
 * hold for nothing. A socket that has not answered the previous sweep's ping is cut.
 */
class PingSweep {
  private readonly sockets = new Set<EventSocket>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly intervalMs: number) {}

  add(socket: EventSocket): void {
    this.sockets.add(socket);
    if (this.timer) return;
    this.timer = setInterval(() => {
      for (const each of this.sockets) each.heartbeat();
    }, this.intervalMs);
    this.timer.unref();
  }

  delete(socket: EventSocket): void {
    this.sockets.delete(socket);
    if (this.sockets.size > 0 || !this.timer) return;
    clearInterval(this.timer);
    this.timer = undefined;
    sweeps.delete(this.intervalMs);
  }
}

/** The sweep of each ping interval in use (the interval is live config: sockets keep the one they started with). */
const sweeps = new Map<number, PingSweep>();

function sweepOf(intervalMs: number): PingSweep {
  let sweep = sweeps.get(intervalMs);
  if (!sweep) sweeps.set(intervalMs, (sweep = new PingSweep(intervalMs)));
  return sweep;
}

/** A pong marks the socket alive; one listener for all (`this` is the WebSocket), no closure per socket. */
const subscriberOf = new WeakMap<WebSocket, EventSocket>();
function onPong(this: WebSocket): void {
  subscriberOf.get(this)?.markAlive();
}

export class EventSocket implements EventSink {
  private alive = true;
  private closed = false;
  private readonly sweep: PingSweep;

  constructor(
    private readonly socket: WebSocket,
    readonly client: number,
    private filter: EventFilter,
    private readonly options: EventSocketOptions,
  ) {
    subscriberOf.set(socket, this);
    socket.on('pong', onPong);
    this.sweep = sweepOf(options.pingIntervalMs);
    this.sweep.add(this);
    socket.once('close', () => {
      this.closed = true;
      this.sweep.delete(this);
    });
  }

  /** The sweep's tick: cut a socket that did not answer the last ping, ping the others. */
  heartbeat(): void {
    if (this.closed) return;
    if (!this.alive) {
      countDropped('no_pong');
      this.closed = true;
      this.sweep.delete(this);
      this.socket.terminate();
      return;
    }
    this.alive = false;
    this.socket.ping();
  }

  markAlive(): void {
    this.alive = true;
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
   * A read's events at once. Without a filter (the common case) their frames go to the
   * connection in one write — the ws library is bypassed for it, which is sound because the
   * broker's WebSockets have no per-message compression (ws then never holds a frame back)
   * and the write is made only while the socket is open. With a filter, event by event.
   */
  deliverBatch(events: readonly StatusEvent[]): void {
    const transport = this.options.transport;
    if (this.filter.types || this.filter.messageIds || !transport) {
      this.batch(() => {
        for (const event of events) this.deliver(event);
      });
      return;
    }
    if (this.closed || events.length === 0 || this.socket.readyState !== this.socket.OPEN) return;
    if (this.socket.bufferedAmount > this.options.maxBufferedBytes) {
      this.close(CLOSE_CODES.SLOW_CONSUMER, 'SLOW_CONSUMER', 'slow_consumer');
      return;
    }
    transport.write(framesOf(events));
    eventsSent.inc(events.length);
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
    this.sweep.delete(this);
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
