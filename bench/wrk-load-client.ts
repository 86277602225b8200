/**
 * The load generator's default client, built like wrk (the C client the Kannel figures
 * are measured with): one TLS socket per connection, the request's bytes built once, one
 * request in flight per socket (no pipelining: each waits for its response), and a
 * response parser that looks at the status, three headers and the body's framing only.
 * On the 2-core bench box every microsecond it spends is one the broker does not get.
 */
import { randomUUID } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { Http1ResponseParser, type ParsedResponse } from './http1-response-parser.js';
import type { LoadOptions } from './load-generator.js';
import { type LoadTally, messageJson, messagesPath } from './load-tally.js';
import type { ResumingTlsDialer } from './resuming-tls-dialer.js';

/** A request that gets no answer in this long fails, so a stuck connection cannot stall the run. */
const RESPONSE_TIMEOUT_MS = 30_000;

class LoadClientError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export async function driveLikeWrk(options: LoadOptions, dialer: ResumingTlsDialer, tally: LoadTally): Promise<void> {
  const url = new URL(options.url);
  const target = { hostname: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || 443) };
  const request = new RequestTemplate({
    path: messagesPath(url),
    host: url.host,
    body: messageJson(options.size),
    idempotency: options.idempotency === true,
    close: options.reconnect,
  });

  const worker = async () => {
    let connection: Http1Connection | undefined;
    while (tally.more()) {
      tally.sent++;
      // From before the connect when there is one: the latency a client sees.
      const t0 = performance.now();
      try {
        if (!connection?.usable) connection = new Http1Connection(await dialer.dialAsync(target));
        const response = await connection.exchange(request.next());
        tally.answered(performance.now() - t0, response.status, response.body?.toString());
        if (!response.keepAlive) {
          connection.close();
          connection = undefined;
        }
      } catch (error) {
        connection?.close();
        connection = undefined;
        tally.failed((error as { code?: string }).code ?? 'CLIENT_ERROR');
      }
    }
    connection?.close();
  };
  await Promise.all(Array.from({ length: options.connections }, worker));
}

/**
 * The request's bytes, built once. With `idempotency` every request needs its own
 * Idempotency-Key: the template is copied and a fresh UUID written over its placeholder
 * (a copy each time, since the socket may still hold the previous request's buffer).
 */
export class RequestTemplate {
  private readonly bytes: Buffer;
  private readonly keyAt: number;

  constructor(request: { path: string; host: string; body: string; idempotency: boolean; close: boolean }) {
    const head =
      `POST ${request.path} HTTP/1.1\r\n` +
      `Host: ${request.host}\r\n` +
      'Content-Type: application/json\r\n' +
      `Content-Length: ${Buffer.byteLength(request.body)}\r\n` +
      // A new TLS connection per request (`reconnect`): the server closes after answering.
      (request.close ? 'Connection: close\r\n' : '');
    const keyHeader = 'Idempotency-Key: ';
    this.keyAt = request.idempotency ? Buffer.byteLength(head) + keyHeader.length : -1;
    this.bytes = Buffer.from(
      `${head}${request.idempotency ? `${keyHeader}${'0'.repeat(36)}\r\n` : ''}\r\n${request.body}`,
      'utf8',
    );
  }

  next(): Buffer {
    if (this.keyAt < 0) return this.bytes;
    const bytes = Buffer.allocUnsafe(this.bytes.length);
    this.bytes.copy(bytes);
    bytes.write(randomUUID(), this.keyAt, 'latin1');
    return bytes;
  }
}

/** One keep-alive socket with at most one request in flight. */
class Http1Connection {
  private waiting: { resolve: (response: ParsedResponse) => void; reject: (error: Error) => void } | undefined;
  private open = true;
  // Only error bodies are read (for their error_code); a 2xx body is skipped unread.
  private readonly parser = new Http1ResponseParser(
    (response) => this.answered(response),
    (status) => status < 200 || status >= 300,
  );

  constructor(private readonly socket: TLSSocket) {
    socket.setTimeout(RESPONSE_TIMEOUT_MS, () =>
      this.fail(new LoadClientError('RESPONSE_TIMEOUT', `no response within ${RESPONSE_TIMEOUT_MS} ms`)),
    );
    socket.on('data', (chunk: Buffer) => {
      try {
        this.parser.execute(chunk);
      } catch (error) {
        this.fail(error as Error);
      }
    });
    socket.on('end', () => {
      this.open = false;
      try {
        // Completes a body that runs until the close; throws if the close cut a response short.
        this.parser.finish();
      } catch {
        this.fail(new LoadClientError('SOCKET_CLOSED', 'the server closed the connection in the middle of a response'));
      }
      if (this.waiting) this.fail(new LoadClientError('SOCKET_CLOSED', 'the server closed the connection'));
    });
    socket.on('error', (error) => this.fail(error));
    socket.on('close', () => {
      this.open = false;
      if (this.waiting) this.fail(new LoadClientError('SOCKET_CLOSED', 'the connection closed'));
    });
  }

  get usable(): boolean {
    return this.open && !this.socket.destroyed;
  }

  exchange(request: Buffer): Promise<ParsedResponse> {
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.socket.write(request);
    });
  }

  /** A graceful close (close_notify, FIN): the server sees a client leaving, not a reset. */
  close(): void {
    this.open = false;
    if (!this.socket.destroyed) this.socket.end();
  }

  private answered(response: ParsedResponse): void {
    const waiting = this.waiting;
    this.waiting = undefined;
    if (waiting) waiting.resolve(response);
    else this.fail(new LoadClientError('HTTP_PARSE_ERROR', 'a response nobody asked for'));
  }

  private fail(error: Error): void {
    this.open = false;
    const waiting = this.waiting;
    this.waiting = undefined;
    this.socket.destroy();
    waiting?.reject(error);
  }
}
