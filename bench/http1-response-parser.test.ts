/**
 * The load generator's response parser: whatever way the socket splits the bytes, the
 * same responses come out, with the body kept only where asked for.
 */
import { describe, expect, it } from 'vitest';
import { Http1ResponseParser, type ParsedResponse } from './http1-response-parser.js';
import { RequestTemplate } from './wrk-load-client.js';

const accepted = Buffer.from(
  'HTTP/1.1 202 Accepted\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: 27\r\n' +
    'Date: Sun, 06 Dec 2026 18:00:00 GMT\r\nConnection: keep-alive\r\nKeep-Alive: timeout=65\r\n\r\n' +
    '{"message_id":"m-1","ok":1}',
);
const refused = Buffer.from(
  'HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nContent-Length: 36\r\n\r\n' +
    '{"error_code":"RATE_LIMITED","x":12}',
);
// The body in four chunks of their own sizes (one with an extension), then trailers.
const chunked = Buffer.from(
  'HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n' +
    ['{"err', 'or_code":"QUEUE_UNAVAILABLE_FOR_NOW', '"', '}']
      .map((piece, i) => `${piece.length.toString(16)}${i === 0 ? ';ext=1' : ''}\r\n${piece}\r\n`)
      .join('') +
    '0\r\nX-Trailer: yes\r\n\r\n',
);

/** Feeds the pieces one `execute` each and returns what came out. */
function parse(pieces: Buffer[], keepBody?: (status: number) => boolean): ParsedResponse[] {
  const out: ParsedResponse[] = [];
  const parser = new Http1ResponseParser((response) => out.push(response), keepBody);
  for (const piece of pieces) parser.execute(piece);
  parser.finish();
  return out;
}

const shape = (responses: ParsedResponse[]) =>
  responses.map((r) => ({ status: r.status, body: r.body?.toString(), keepAlive: r.keepAlive }));

describe('Http1ResponseParser', () => {
  it('reads a response split at every byte boundary, and one fed a byte at a time', () => {
    const whole = shape(parse([accepted]));
    expect(whole).toEqual([{ status: 202, body: '{"message_id":"m-1","ok":1}', keepAlive: true }]);
    for (let i = 1; i < accepted.length; i++) {
      expect(shape(parse([accepted.subarray(0, i), accepted.subarray(i)])), `split at ${i}`).toEqual(whole);
    }
    const bytes = [...accepted].map((byte) => Buffer.from([byte]));
    expect(shape(parse(bytes))).toEqual(whole);
  });

  it('reads two responses that arrive in one chunk, and a third split across the next', () => {
    const joined = Buffer.concat([accepted, refused, accepted]);
    const cut = accepted.length + refused.length + 10;
    expect(shape(parse([joined.subarray(0, cut), joined.subarray(cut)]))).toEqual([
      { status: 202, body: '{"message_id":"m-1","ok":1}', keepAlive: true },
      { status: 429, body: '{"error_code":"RATE_LIMITED","x":12}', keepAlive: true },
      { status: 202, body: '{"message_id":"m-1","ok":1}', keepAlive: true },
    ]);
  });

  it('reads a chunked body with extensions and trailers, split at every byte boundary', () => {
    const expected = [{ status: 503, body: '{"error_code":"QUEUE_UNAVAILABLE_FOR_NOW"}', keepAlive: true }];
    expect(shape(parse([chunked]))).toEqual(expected);
    for (let i = 1; i < chunked.length; i++) {
      expect(shape(parse([chunked.subarray(0, i), chunked.subarray(i)])), `split at ${i}`).toEqual(expected);
    }
    expect(shape(parse([...chunked].map((byte) => Buffer.from([byte]))))).toEqual(expected);
    // Followed by a Content-Length response in the same chunk.
    expect(shape(parse([Buffer.concat([chunked, accepted])]))).toHaveLength(2);
  });

  it('keeps only the bodies asked for', () => {
    const errorsOnly = (status: number) => status < 200 || status >= 300;
    expect(shape(parse([Buffer.concat([accepted, refused, chunked])], errorsOnly))).toEqual([
      { status: 202, body: undefined, keepAlive: true },
      { status: 429, body: '{"error_code":"RATE_LIMITED","x":12}', keepAlive: true },
      { status: 503, body: '{"error_code":"QUEUE_UNAVAILABLE_FOR_NOW"}', keepAlive: true },
    ]);
  });

  it('reports Connection: close and ignores what follows; reads a body without length until the close', () => {
    const closing = Buffer.from('HTTP/1.1 202 Accepted\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}');
    expect(shape(parse([Buffer.concat([closing, accepted])]))).toEqual([{ status: 202, body: '{}', keepAlive: false }]);

    const untilClose = Buffer.from('HTTP/1.0 500 Internal Server Error\r\n\r\n{"error_code":"INTERNAL"}');
    for (let i = 1; i < untilClose.length; i++) {
      expect(shape(parse([untilClose.subarray(0, i), untilClose.subarray(i)]))).toEqual([
        { status: 500, body: '{"error_code":"INTERNAL"}', keepAlive: false },
      ]);
    }
  });

  it('skips interim 1xx responses and reads 204 without a body', () => {
    const interim = Buffer.from('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n');
    expect(shape(parse([Buffer.concat([interim, accepted])]))).toEqual([
      { status: 204, body: '', keepAlive: true },
      { status: 202, body: '{"message_id":"m-1","ok":1}', keepAlive: true },
    ]);
  });

  it('rejects what is not HTTP, and a connection closed in the middle of a response', () => {
    expect(() => parse([Buffer.from('SSH-2.0-OpenSSH_9.6\r\n\r\n')])).toThrow(/bad status line/);
    expect(() => parse([Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: x1\r\n\r\n')])).toThrow(/Content-Length/);
    expect(() => parse([accepted.subarray(0, accepted.length - 1)])).toThrow(/closed in the middle/);
    expect(() => parse([accepted.subarray(0, 20)])).toThrow(/closed in the middle/);
    expect(() => parse([Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n')])).toThrow(
      /chunk size/,
    );
  });
});

describe('RequestTemplate', () => {
  const request = { path: '/api/v1/messages', host: 'localhost:8443', body: '{"a":"é"}' };

  it('builds the request once, Content-Length in bytes', () => {
    const template = new RequestTemplate({ ...request, idempotency: false, close: false });
    expect(template.next()).toBe(template.next());
    expect(template.next().toString()).toBe(
      'POST /api/v1/messages HTTP/1.1\r\nHost: localhost:8443\r\nContent-Type: application/json\r\n' +
        'Content-Length: 10\r\n\r\n{"a":"é"}',
    );
  });

  it('writes a fresh Idempotency-Key into each request, and Connection: close when reconnecting', () => {
    const template = new RequestTemplate({ ...request, idempotency: true, close: true });
    const [first, second] = [template.next().toString(), template.next().toString()];
    const key = /\r\nIdempotency-Key: ([0-9a-f-]{36})\r\n\r\n\{"a":"é"\}$/;
    expect(first).toMatch(key);
    expect(first).toContain('\r\nConnection: close\r\n');
    expect(key.exec(first)![1]).not.toBe(key.exec(second)![1]);
  });
});
