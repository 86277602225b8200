/**
 * The least HTTP/1.1 response parsing the load generator needs, in the spirit of wrk:
 * status line, headers up to CRLFCRLF (only Content-Length, Transfer-Encoding and
 * Connection are looked at), then the body by Content-Length, by chunked encoding, or
 * until the connection closes. Bytes arrive as the socket delivers them, split anywhere;
 * one `execute` call may also hold more than one response.
 *
 * The body is kept only where the caller asks (the load generator keeps error bodies for
 * their `error_code` and drops the 202s' unread): no string is built for a body nobody reads.
 */

export interface ParsedResponse {
  status: number;
  /** The body, when `keepBody(status)` said so; otherwise undefined. */
  body: Buffer | undefined;
  /** False when the server closes after this response (`Connection: close`, HTTP/1.0, a body read until close). */
  keepAlive: boolean;
}

export class HttpParseError extends Error {
  readonly code = 'HTTP_PARSE_ERROR';
}

const CRLFCRLF = Buffer.from('\r\n\r\n');
const LF = 0x0a;
/** Far beyond any head or chunk-size line the broker sends: a stream that never ends one is not HTTP. */
const MAX_LINE_BYTES = 64 * 1024;

type State = 'head' | 'body' | 'until-close' | 'chunk-size' | 'chunk-data' | 'chunk-data-end' | 'trailers' | 'done';

export class Http1ResponseParser {
  private state: State = 'head';
  /** The start of a head that has not reached its CRLFCRLF yet. */
  private partialHead: Buffer | undefined;
  /** The start of a chunk-size or trailer line that has not reached its LF yet. */
  private partialLine = '';
  private status = 0;
  private keepAlive = true;
  /** Body bytes (Content-Length) or bytes of the current chunk still to read. */
  private remaining = 0;
  private body: Buffer[] | undefined;

  constructor(
    private readonly onResponse: (response: ParsedResponse) => void,
    private readonly keepBody: (status: number) => boolean = () => true,
  ) {}

  /** Feeds bytes from the socket; calls `onResponse` for every response they complete. */
  execute(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      switch (this.state) {
        case 'head':
          at = this.readHead(chunk, at);
          break;
        case 'body':
        case 'chunk-data':
          at = this.readBody(chunk, at);
          break;
        case 'until-close':
          if (this.body) this.body.push(chunk.subarray(at));
          at = chunk.length;
          break;
        case 'chunk-size':
        case 'chunk-data-end':
        case 'trailers':
          at = this.readChunkLine(chunk, at);
          break;
        case 'done':
          // The server said it closes after the last response: what follows is not ours to read.
          return;
      }
    }
  }

  /** The connection ended: completes a body read until close; throws if a response was cut short. */
  finish(): void {
    if (this.state === 'until-close') this.complete();
    else if (this.state !== 'done' && (this.state !== 'head' || this.partialHead))
      throw new HttpParseError('connection closed in the middle of a response');
  }

  private readHead(chunk: Buffer, at: number): number {
    let bytes = chunk;
    let start = at;
    let searchFrom = at;
    const carried = this.partialHead?.length ?? 0;
    if (this.partialHead) {
      bytes = Buffer.concat([this.partialHead, chunk.subarray(at)]);
      start = 0;
      // The CRLFCRLF may straddle the two pieces.
      searchFrom = Math.max(0, carried - 3);
    }
    const end = bytes.indexOf(CRLFCRLF, searchFrom);
    if (end < 0) {
      if (bytes.length - start > MAX_LINE_BYTES) throw new HttpParseError('response head too large');
      // A copy: the socket's chunk is not ours to hold.
      this.partialHead = Buffer.from(bytes.subarray(start));
      return chunk.length;
    }
    this.partialHead = undefined;
    this.startBody(bytes.toString('latin1', start, end));
    // `end` counts from the carried bytes when there were some, from the chunk's start otherwise.
    return carried ? at + end + 4 - carried : end + 4;
  }

  private startBody(head: string): void {
    const lineEnd = head.indexOf('\r\n');
    const statusLine = lineEnd < 0 ? head : head.slice(0, lineEnd);
    const status = Number(statusLine.slice(9, 12));
    const afterCode = statusLine[12];
    if (!statusLine.startsWith('HTTP/1.') || (afterCode !== undefined && afterCode !== ' ') || !(status >= 100))
      throw new HttpParseError(`bad status line: ${JSON.stringify(statusLine.slice(0, 80))}`);
    // HTTP/1.1 keeps the connection unless told otherwise; HTTP/1.0 closes unless told otherwise.
    let keepAlive = statusLine[7] === '1';
    let contentLength = -1;
    let chunked = false;
    let at = lineEnd < 0 ? head.length : lineEnd + 2;
    while (at < head.length) {
      let next = head.indexOf('\r\n', at);
      if (next < 0) next = head.length;
      const colon = head.indexOf(':', at);
      // Only three names matter; their lengths (10, 14, 17) spare lower-casing the others.
      const nameLength = colon - at;
      if (colon > at && colon < next && (nameLength === 10 || nameLength === 14 || nameLength === 17)) {
        const name = head.slice(at, colon).toLowerCase();
        const value = head
          .slice(colon + 1, next)
          .trim()
          .toLowerCase();
        if (name === 'content-length') {
          if (!/^\d+$/.test(value)) throw new HttpParseError(`bad Content-Length: ${JSON.stringify(value)}`);
          contentLength = Number(value);
        } else if (name === 'transfer-encoding') {
          chunked = value.endsWith('chunked');
        } else if (name === 'connection') {
          const tokens = value.split(',').map((token) => token.trim());
          if (tokens.includes('close')) keepAlive = false;
          else if (tokens.includes('keep-alive')) keepAlive = true;
        }
      }
      at = next + 2;
    }
    this.status = status;
    this.keepAlive = keepAlive;
    if (status < 200 && status !== 101) {
      // An interim response (100 Continue, 103 Early Hints): the real one follows.
      return;
    }
    this.body = this.keepBody(status) ? [] : undefined;
    if (status === 101 || status === 204 || status === 304) this.complete();
    // Chunked wins over Content-Length (RFC 9112 §6.3).
    else if (chunked) this.state = 'chunk-size';
    else if (contentLength >= 0) {
      this.remaining = contentLength;
      if (contentLength === 0) this.complete();
      else this.state = 'body';
    } else {
      this.keepAlive = false;
      this.state = 'until-close';
    }
  }

  private readBody(chunk: Buffer, at: number): number {
    const n = Math.min(this.remaining, chunk.length - at);
    if (this.body) this.body.push(chunk.subarray(at, at + n));
    this.remaining -= n;
    if (this.remaining === 0) {
      if (this.state === 'body') this.complete();
      else this.state = 'chunk-data-end';
    }
    return at + n;
  }

  /** One line of the chunked framing: a chunk size, the CRLF after a chunk, or a trailer. */
  private readChunkLine(chunk: Buffer, at: number): number {
    const lf = chunk.indexOf(LF, at);
    if (lf < 0) {
      this.partialLine += chunk.toString('latin1', at);
      if (this.partialLine.length > MAX_LINE_BYTES) throw new HttpParseError('chunk line too long');
      return chunk.length;
    }
    let line = this.partialLine + chunk.toString('latin1', at, lf);
    this.partialLine = '';
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (this.state === 'chunk-size') {
      const size = line.split(';', 1)[0]!.trim();
      if (!/^[0-9a-fA-F]{1,12}$/.test(size)) throw new HttpParseError(`bad chunk size: ${JSON.stringify(size)}`);
      this.remaining = Number.parseInt(size, 16);
      this.state = this.remaining === 0 ? 'trailers' : 'chunk-data';
    } else if (this.state === 'chunk-data-end') {
      if (line !== '') throw new HttpParseError('chunk not followed by CRLF');
      this.state = 'chunk-size';
    } else if (line === '') {
      // The empty line after the last chunk and its trailers, if any (they are ignored).
      this.complete();
    }
    return lf + 1;
  }

  private complete(): void {
    const response: ParsedResponse = {
      status: this.status,
      body: this.body ? Buffer.concat(this.body) : undefined,
      keepAlive: this.keepAlive,
    };
    this.body = undefined;
    this.state = response.keepAlive ? 'head' : 'done';
    this.onResponse(response);
  }
}
