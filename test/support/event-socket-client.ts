/**
 * A client of `GET /api/v1/events` for tests: a real WebSocket over mTLS (`ws`), keeping
 * every frame it receives, with waits on them.
 */
import WebSocket from 'ws';
import type { StatusEvent } from '../../src/events/status-event.js';
import type { ClientBundle } from './broker-harness.js';

export interface ControlFrame {
  type: 'subscribed' | 'error';
  last_event_id?: string;
  error_code?: string;
}

export class EventSocketClient {
  readonly events: StatusEvent[] = [];
  readonly controls: ControlFrame[] = [];
  closed: { code: number; reason: string; at: number } | undefined;
  private readonly waiters = new Set<() => void>();

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as StatusEvent | ControlFrame;
      if ('event_id' in frame) this.events.push(frame);
      else this.controls.push(frame);
      this.notify();
    });
    socket.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString(), at: Date.now() };
      this.notify();
    });
    socket.on('error', () => undefined); // reported through 'close' or the open promise
  }

  /** Opens and resolves once the broker says the subscription is live. */
  static async open(
    baseUrl: string,
    bundle: Partial<ClientBundle> & { ca: string },
    query = '',
  ): Promise<EventSocketClient> {
    const url = `${baseUrl.replace(/^https/, 'wss')}/api/v1/events${query ? `?${query}` : ''}`;
    const socket = new WebSocket(url, { ca: bundle.ca, cert: bundle.cert, key: bundle.key });
    const client = new EventSocketClient(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('unexpected-response', (_request, response) =>
        reject(Object.assign(new Error(`HTTP ${response.statusCode}`), { status: response.statusCode })),
      );
      socket.once('error', reject);
    });
    await client.waitFor(() => client.controls.some((c) => c.type === 'subscribed'), 10_000, 'subscribed');
    return client;
  }

  /** The events of one message, in the order received. */
  of(messageId: string): StatusEvent[] {
    return this.events.filter((e) => e.message_id === messageId);
  }

  waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!condition()) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.events.map((e) => e.type))}`));
      }, timeoutMs);
      this.waiters.add(check);
    });
  }

  send(frame: unknown): void {
    this.socket.send(JSON.stringify(frame));
  }

  close(): void {
    this.socket.close();
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}
