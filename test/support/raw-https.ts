/**
 * A bare HTTP/1.1-over-TLS connection, for tests that must know which socket a request
 * travels on (keep-alive, revocation of an open connection, session resumption) — a
 * pooled client such as undici hides that.
 */
import { connect, type SecureVersion, type TLSSocket } from 'node:tls';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: Record<string, unknown>;
}

export interface RawConnectionOptions {
  cert?: string;
  key?: string;
  ca: string;
  session?: Buffer;
  minVersion?: SecureVersion;
  maxVersion?: SecureVersion;
}

export class RawConnection {
  /** When the socket closed (ms since epoch), once it has. */
  closedAt: number | undefined;
  /** The last TLS session ticket the server sent. */
  session: Buffer | undefined;
  /** Whether the handshake resumed an earlier session (no certificate check). */
  readonly resumed: boolean;
  readonly closed: Promise<number>;
  private buffer = Buffer.alloc(0);
  private waiter: ((chunk?: Buffer) => void) | undefined;

  private constructor(readonly socket: TLSSocket) {
    this.resumed = socket.isSessionReused();
    socket.on('session', (session: Buffer) => (this.session = session));
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.waiter?.(chunk);
    });
    socket.on('error', () => undefined); // surfaces as 'close'
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.closedAt = Date.now();
        this.waiter?.();
        resolve(this.closedAt);
      }),
    );
  }

  static open(url: string, options: RawConnectionOptions): Promise<RawConnection> {
    const { hostname, port } = new URL(url);
    return new Promise((resolve, reject) => {
      const socket = connect({ host: hostname, port: Number(port), servername: hostname, ...options });
      socket.once('secureConnect', () => resolve(new RawConnection(socket)));
      socket.once('error', reject);
    });
  }

  get isOpen(): boolean {
    return this.closedAt === undefined;
  }

  /** Sends one POST /api/v1/messages and reads its answer; rejects if the socket closes first. */
  async post(body: unknown, path = '/api/v1/messages'): Promise<RawResponse> {
    return this.send(JSON.stringify(body), { 'Content-Type': 'application/json' }, path);
  }

  /**
   * Sends one POST with exactly these body bytes (hostile-input tests: invalid UTF-8, any
   * Content-Type, thousands of headers) and reads its answer. Content-Length is added
   * unless the headers carry one.
   */
  async send(
    body: string | Buffer,
    headers: Record<string, string> | Array<[string, string]>,
    path = '/api/v1/messages',
  ): Promise<RawResponse> {
    const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
    const lines = Array.isArray(headers) ? [...headers] : Object.entries(headers);
    if (!lines.some(([name]) => name.toLowerCase() === 'content-length'))
      lines.push(['Content-Length', String(bytes.length)]);
    const head = [
      `POST ${path} HTTP/1.1`,
      'Host: localhost',
      ...lines.map(([name, value]) => `${name}: ${value}`),
    ].join('\r\n');
    this.socket.write(Buffer.concat([Buffer.from(`${head}\r\n\r\n`, 'latin1'), bytes]));
    return this.nextResponse();
  }

  /** The next answer on this connection; rejects if the socket closes first. */
  async nextResponse(): Promise<RawResponse> {
    for (;;) {
      const response = this.takeResponse();
      if (response) return response;
      if (!this.isOpen) throw new Error('the connection closed before an answer arrived');
      await new Promise<Buffer | undefined>((resolve) => (this.waiter = resolve));
      this.waiter = undefined;
    }
  }

  /** Everything received and not yet read as a response. */
  get unread(): string {
    return this.buffer.toString('latin1');
  }

  close(): void {
    this.socket.destroy();
  }

  private takeResponse(): RawResponse | undefined {
    const end = this.buffer.indexOf('\r\n\r\n');
    if (end < 0) return undefined;
    const [statusLine, ...headerLines] = this.buffer.subarray(0, end).toString('latin1').split('\r\n');
    const headers = Object.fromEntries(
      headerLines.map((line) => [
        line.slice(0, line.indexOf(':')).toLowerCase(),
        line.slice(line.indexOf(':') + 1).trim(),
      ]),
    );
    const length = Number(headers['content-length'] ?? 0);
    if (this.buffer.length < end + 4 + length) return undefined;
    const text = this.buffer.subarray(end + 4, end + 4 + length).toString('utf8');
    this.buffer = this.buffer.subarray(end + 4 + length);
    return {
      status: Number(statusLine!.split(' ')[1]),
      headers,
      body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
    };
  }
}
