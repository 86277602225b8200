/**
 * A corpus of hostile requests against the real supervisor, sent byte for byte over raw
 * TLS connections: bodies past the limit, JSON nested 10,000 deep, prototype-pollution
 * keys, lone surrogates and invalid UTF-8, wrong types, wrong content types, 2,000
 * headers, slow clients, empty bodies. Each is refused with a 4xx in the one error schema
 * (or, where the server must stop reading, the connection is cut), nothing refused is
 * stored, nothing accepted is stored altered — and afterwards the broker still takes a
 * valid message and reports itself healthy.
 *
 * The workspace has short deadlines (headers 2 s, request 4 s) so the slow-client cases
 * take seconds, and a 128 KiB body limit so 10,000 levels of nesting fit under it.
 */
import { connect as connectTcp } from 'node:net';
import type { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BrokerProcess,
  createWorkspace,
  demoBundle,
  getJson,
  mtlsAgent,
  waitUntil,
  type ApiResponse,
  type ClientBundle,
  type Workspace,
} from '../support/broker-harness.js';
import { RawConnection, type RawResponse } from '../support/raw-https.js';
import { expectErrorSchema, openStored, storedCount, storedRows } from '../support/stored-messages.js';

const BODY_LIMIT = 131_072;
const HEADERS_TIMEOUT_MS = 2000;
const REQUEST_TIMEOUT_MS = 4000;
const JSON_TYPE = { 'Content-Type': 'application/json' };

let workspace: Workspace;
let broker: BrokerProcess;
let bundle: ClientBundle;
const open: RawConnection[] = [];
/** Every 202 of this file: message id → the body and number sent. */
const accepted = new Map<string, { message_body: string; sender_number: string }>();

beforeAll(async () => {
  workspace = await createWorkspace({
    server: {
      body_limit_bytes: BODY_LIMIT,
      headers_timeout_ms: HEADERS_TIMEOUT_MS,
      request_timeout_ms: REQUEST_TIMEOUT_MS,
      keep_alive_timeout_ms: 1000,
    },
    log: { level: 'warn' },
  });
  broker = new BrokerProcess(workspace);
  await broker.start();
  bundle = demoBundle(workspace);
});

afterAll(async () => {
  for (const connection of open) connection.close();
  await broker?.kill('SIGTERM');
  await workspace?.cleanup();
});

async function connection(): Promise<RawConnection> {
  const opened = await RawConnection.open(broker.url, bundle);
  open.push(opened);
  return opened;
}

/** One request on a fresh connection. */
async function send(
  body: string | Buffer,
  headers: Record<string, string> | Array<[string, string]> = JSON_TYPE,
  path?: string,
): Promise<RawResponse> {
  return (await connection()).send(body, headers, path);
}

function asApi(response: RawResponse): ApiResponse {
  return { status: response.status, body: response.body, headers: response.headers };
}

function expectRefused(response: RawResponse, status: number, code: string, what: string): void {
  expectErrorSchema(asApi(response), what);
  expect({ status: response.status, code: response.body.error_code }, what).toEqual({ status, code });
}

/** Where the server may stop reading mid-request: a 4xx in the schema, or the connection cut without an answer. */
async function expectRefusedOrCut(
  body: string | Buffer,
  headers: Record<string, string> | Array<[string, string]>,
  what: string,
): Promise<void> {
  const conn = await connection();
  try {
    const response = await conn.send(body, headers);
    expectErrorSchema(asApi(response), what);
  } catch (error) {
    expect((error as Error).message, what).toMatch(/closed before an answer/);
  }
}

/** Writes `text` one byte a second until the server closes the connection; a 408 in the schema if it answered. */
async function dripUntilCut(conn: RawConnection, text: string): Promise<{ sent: number; lastedMs: number }> {
  const started = Date.now();
  let sent = 0;
  const drip = setInterval(() => {
    if (conn.isOpen && sent < text.length) conn.socket.write(text[sent++]!);
  }, 1000);
  try {
    await waitUntil(async () => !conn.isOpen, 30_000, 'the server to close the slow connection');
  } finally {
    clearInterval(drip);
  }
  if (conn.unread) expect(conn.unread).toMatch(/^HTTP\/1\.1 408 .*"error_code":"REQUEST_TIMEOUT"/s);
  return { sent, lastedMs: conn.closedAt! - started };
}

async function expectAccepted(
  body: { sender_number: string; message_body: string; metadata?: unknown },
  raw?: string | Buffer,
): Promise<RawResponse> {
  const response = await send(raw ?? JSON.stringify(body));
  expect(response.status, JSON.stringify(response.body)).toBe(202);
  expect(Object.keys(response.body).sort()).toEqual(['client_id', 'message_id', 'position', 'queued_at', 'status']);
  accepted.set(String(response.body.message_id), {
    message_body: body.message_body,
    sender_number: body.sender_number,
  });
  return response;
}

const valid = { sender_number: '+14155550123', message_body: 'hostile corpus control' };
const withBody = (messageBody: string) => `{"sender_number":"+14155550123","message_body":"${messageBody}"}`;
const asBytes = (...parts: Array<string | number[]>) =>
  Buffer.concat(parts.map((part) => (typeof part === 'string' ? Buffer.from(part, 'latin1') : Buffer.from(part))));

describe('size and shape', () => {
  it('refuses a body one byte over the limit (413) and cuts off or refuses a 10 MB one', async () => {
    const ofLength = (bytes: number) => {
      const frame = JSON.stringify({ ...valid, message_body: '' });
      return JSON.stringify({ ...valid, message_body: 'x'.repeat(bytes - frame.length) });
    };
    // At the limit the body is read and judged (too long a message); one byte more is not read.
    expectRefused(await send(ofLength(BODY_LIMIT)), 422, 'INVALID_PAYLOAD', 'at the limit');
    expectRefused(await send(ofLength(BODY_LIMIT + 1)), 413, 'PAYLOAD_TOO_LARGE', 'one byte over');
    await expectRefusedOrCut(Buffer.alloc(10 * 1024 * 1024, 0x20), JSON_TYPE, '10 MB');
    // A declared length far past the limit is refused before a byte of the body is read.
    const declared = await connection();
    declared.socket.write(
      `POST /api/v1/messages HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 999999999999\r\n\r\n{`,
    );
    expectRefused(await declared.nextResponse(), 413, 'PAYLOAD_TOO_LARGE', 'declared length');
  });

  it('refuses JSON nested 10,000 levels deep, as the body, inside metadata and in a batch', async () => {
    const arrays = `${'['.repeat(10_000)}${']'.repeat(10_000)}`;
    const objects = `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`;
    for (const [what, body] of [
      ['arrays', arrays],
      ['objects', objects],
      ['metadata', `{"sender_number":"+14155550123","message_body":"deep","metadata":{"a":${objects}}}`],
      ['message_body', `{"sender_number":"+14155550123","message_body":${arrays}}`],
    ] as const) {
      const response = await send(body);
      expect(response.status, what).toBe(422);
      expectErrorSchema(asApi(response), what);
    }
    const batch = await send(`{"messages":[${objects}]}`, JSON_TYPE, '/api/v1/messages/batch');
    expect([207, 422]).toContain(batch.status);
    expect(JSON.stringify(batch.body)).not.toContain('"accepted":1');
  });

  it('refuses an empty body, whitespace, a bare string and an empty object', async () => {
    expectRefused(await send(''), 400, 'MALFORMED_JSON', 'empty with a JSON type');
    expectRefused(await send('   \r\n'), 400, 'MALFORMED_JSON', 'whitespace');
    expectRefused(await send('""'), 422, 'INVALID_PAYLOAD', 'bare string');
    expectRefused(await send('{}'), 422, 'INVALID_PAYLOAD', 'empty object');
    expectRefused(await send('null'), 422, 'INVALID_PAYLOAD', 'null');
    const untyped = await send('', []);
    expect(untyped.status).toBeGreaterThanOrEqual(400);
    expectErrorSchema(asApi(untyped), 'empty without a type');
  });

  it('refuses numbers, arrays, objects and null where strings belong, and the other way round', async () => {
    for (const body of [
      { sender_number: 14155550123, message_body: 'hi' },
      { sender_number: ['+14155550123'], message_body: 'hi' },
      { sender_number: '+14155550123', message_body: null },
      { sender_number: '+14155550123', message_body: 42 },
      { sender_number: '+14155550123', message_body: ['hi'] },
      { sender_number: '+14155550123', message_body: { text: 'hi' } },
      { sender_number: '+14155550123', message_body: true },
      { ...valid, metadata: 'ref=1' },
      { ...valid, metadata: ['ref'] },
      { ...valid, metadata: null },
      { ...valid, metadata: { nested: { deeper: 1 } } },
      { ...valid, metadata: { list: [1, 2] } },
    ]) {
      expectRefused(await send(JSON.stringify(body)), 422, 'INVALID_PAYLOAD', JSON.stringify(body));
    }
  });
});

describe('encodings', () => {
  it('refuses lone surrogates, escaped in JSON or as raw (CESU-8) bytes, and stores a proper pair intact', async () => {
    for (const escaped of ['\\ud800', '\\udfff', 'a\\ud83d', '\\ude00b', '\\udc00\\ud800']) {
      expectRefused(await send(withBody(escaped)), 400, 'MALFORMED_JSON', `body ${escaped}`);
    }
    expectRefused(
      await send('{"sender_number":"+14155550123","message_body":"hi","metadata":{"k":"\\ud800"}}'),
      400,
      'MALFORMED_JSON',
      'metadata value',
    );
    expectRefused(
      await send('{"sender_number":"+14155550123","message_body":"hi","metadata":{"\\ud800":"v"}}'),
      400,
      'MALFORMED_JSON',
      'metadata key',
    );
    expectRefused(
      await send(asBytes('{"sender_number":"+14155550123","message_body":"', [0xed, 0xa0, 0x80], '"}')),
      400,
      'MALFORMED_JSON',
      'raw surrogate',
    );
    // An escaped backslash before "ud800" is plain text, not a surrogate.
    await expectAccepted(
      { sender_number: '+14155550123', message_body: 'literal \\ud800 text' },
      withBody('literal \\\\ud800 text'),
    );
    await expectAccepted(
      { sender_number: '+14155550123', message_body: 'pair 😀 ok' },
      withBody('pair \\ud83d\\ude00 ok'),
    );
    await expectAccepted({ sender_number: '+14155550123', message_body: 'raw 😀 ok é' });
  });

  it('refuses invalid UTF-8 instead of storing replacement characters', async () => {
    for (const bytes of [
      [0xc3, 0x28],
      [0xff],
      [0xfe, 0xff],
      [0xc0, 0xaf],
      [0xe2, 0x82],
      [0xf4, 0x90, 0x80, 0x80],
      [0x80],
    ]) {
      const body = asBytes('{"sender_number":"+14155550123","message_body":"x', bytes, 'y"}');
      expectRefused(await send(body), 400, 'MALFORMED_JSON', `bytes ${bytes.map((b) => b.toString(16)).join(' ')}`);
    }
    const latin1 = asBytes('{"sender_number":"+14155550123","message_body":"caf', [0xe9], '"}');
    // Only UTF-8 is taken: a body declared in another charset is refused, whatever its bytes.
    expectRefused(
      await send(latin1, { 'Content-Type': 'application/json; charset=latin1' }),
      415,
      'UNSUPPORTED_MEDIA_TYPE',
      'latin1 declared',
    );
    expectRefused(
      await send(Buffer.from(JSON.stringify(valid), 'utf16le'), { 'Content-Type': 'application/json; charset=utf-16' }),
      415,
      'UNSUPPORTED_MEDIA_TYPE',
      'UTF-16 declared',
    );
    expectRefused(
      await send(JSON.stringify(valid), { 'Content-Type': 'application/json; charset=iso-8859-1' }),
      415,
      'UNSUPPORTED_MEDIA_TYPE',
      'ASCII-only body declared ISO-8859-1',
    );
    expectRefused(
      await send(Buffer.from(JSON.stringify(valid), 'utf16le'), JSON_TYPE),
      400,
      'MALFORMED_JSON',
      'UTF-16',
    );
  });

  it('refuses other content types with 415', async () => {
    const form = new URLSearchParams(valid).toString();
    for (const [type, body] of [
      ['text/plain', JSON.stringify(valid)],
      ['application/x-www-form-urlencoded', form],
      [
        'multipart/form-data; boundary=x',
        `--x\r\nContent-Disposition: form-data; name="message_body"\r\n\r\nhi\r\n--x--\r\n`,
      ],
      ['application/xml', '<message><body>hi</body></message>'],
      ['application/octet-stream', JSON.stringify(valid)],
    ]) {
      expectRefused(await send(body!, { 'Content-Type': type! }), 415, 'UNSUPPORTED_MEDIA_TYPE', type!);
    }
  });
});

describe('prototype pollution', () => {
  it('refuses __proto__ and constructor.prototype keys anywhere, and stays healthy', async () => {
    for (const body of [
      '{"sender_number":"+14155550123","message_body":"hi","__proto__":{"polluted":true}}',
      '{"__proto__":{"sender_number":"+14155550123","message_body":"hi"}}',
      '{"sender_number":"+14155550123","message_body":"hi","metadata":{"__proto__":{"polluted":true}}}',
      '{"sender_number":"+14155550123","message_body":"hi","metadata":{"__proto__":"x"}}',
      '{"sender_number":"+14155550123","message_body":"hi","constructor":{"prototype":{"polluted":true}}}',
      '{"messages":[{"sender_number":"+14155550123","message_body":"hi","__proto__":{"polluted":true}}]}',
    ]) {
      const response = await send(
        body,
        JSON_TYPE,
        body.startsWith('{"messages"') ? '/api/v1/messages/batch' : undefined,
      );
      expectRefused(response, 400, 'MALFORMED_JSON', body);
    }
    // The words themselves are fine as metadata keys and values.
    const names = {
      sender_number: '+14155550123',
      message_body: 'names',
      metadata: { constructor: 'c', prototype: 'p', toString: 't', hasOwnProperty: 'h' },
    };
    await expectAccepted(names);
    // Refusals still carry exactly the schema's keys: nothing leaked onto Object.prototype.
    const refusal = await send('{"polluted":1}');
    expect(Object.keys(refusal.body).sort()).toEqual(['details', 'error_code', 'message', 'timestamp', 'tracking_id']);
  });
});

describe('HTTP framing and headers', () => {
  /** One raw request on a fresh connection: its answer, or undefined when the server only closed it. */
  async function raw(request: string): Promise<RawResponse | undefined> {
    const conn = await connection();
    conn.socket.write(request);
    return conn.nextResponse().catch(() => undefined);
  }
  const json = JSON.stringify(valid);
  const head = 'POST /api/v1/messages HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n';

  it('refuses smuggling shapes: Content-Length with Transfer-Encoding, two lengths, a bad chunk size', async () => {
    for (const [what, request] of [
      [
        'CL + TE',
        `${head}Content-Length: ${json.length}\r\nTransfer-Encoding: chunked\r\n\r\n${json.length.toString(16)}\r\n${json}\r\n0\r\n\r\n`,
      ],
      ['two lengths', `${head}Content-Length: ${json.length}\r\nContent-Length: 5\r\n\r\n${json}`],
      ['bad chunk size', `${head}Transfer-Encoding: chunked\r\n\r\nzz\r\n${json}\r\n0\r\n\r\n`],
    ] as const) {
      const response = await raw(request);
      if (response) expectRefused(response, 400, 'BAD_REQUEST', what);
    }
    // A coding the parser lets through but does not undo: refused before the body is read.
    for (const [what, request] of [
      ['obfuscated TE', `${head}Transfer-Encoding: xchunked\r\n\r\n${json}`],
      [
        'gzip, chunked',
        `${head}Transfer-Encoding: gzip, chunked\r\n\r\n${json.length.toString(16)}\r\n${json}\r\n0\r\n\r\n`,
      ],
    ] as const) {
      const response = await raw(request);
      if (response) expectRefused(response, 415, 'UNSUPPORTED_MEDIA_TYPE', what);
    }
  });

  it('takes a well-formed chunked body (control)', async () => {
    const response = await raw(
      `${head}Transfer-Encoding: chunked\r\n\r\n${json.length.toString(16)}\r\n${json}\r\n0\r\n\r\n`,
    );
    expect(response?.status).toBe(202);
    accepted.set(String(response!.body.message_id), valid);
  });

  it('refuses a malformed Idempotency-Key and ignores a hostile X-Request-Id', async () => {
    for (const key of ['k'.repeat(256), 'has space', 'tab\there']) {
      const response = await send(json, { 'Content-Type': 'application/json', 'Idempotency-Key': key });
      expectRefused(response, 422, 'INVALID_PAYLOAD', `Idempotency-Key ${key.slice(0, 20)}`);
    }
    const traced = await send('{}', {
      'Content-Type': 'application/json',
      'X-Request-Id': '<script>alert(1)</script>',
    });
    expectErrorSchema(asApi(traced), 'hostile X-Request-Id');
    expect(traced.body.tracking_id).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('headers and slow clients', () => {
  it('refuses 2,000 headers (431 or a cut connection) and keeps serving', async () => {
    const many: Array<[string, string]> = Array.from({ length: 2000 }, (_, i) => [
      `X-Hostile-${String(i).padStart(4, '0')}`,
      `value-${i}`,
    ]);
    const conn = await connection();
    try {
      const response = await conn.send(JSON.stringify(valid), [...many, ['Content-Type', 'application/json']]);
      expectRefused(response, 431, 'HEADERS_TOO_LARGE', '2,000 headers');
    } catch (error) {
      expect((error as Error).message).toMatch(/closed before an answer/);
    }
    // 2,000 tiny headers fit in the header size limit: answered like any request (Node keeps 2,000 at most).
    const tiny: Array<[string, string]> = Array.from({ length: 1990 }, (_, i) => [`x${i}`, '1']);
    const answered = await send(JSON.stringify(valid), [...tiny, ['Content-Type', 'application/json']]);
    expect(answered.status).toBeLessThan(500);
    if (answered.status === 202) accepted.set(String(answered.body.message_id), valid);
    else expectErrorSchema(asApi(answered), 'tiny headers');
  });

  it('cuts off a client that sends its headers one byte a second', async () => {
    const conn = await connection();
    const request = `POST /api/v1/messages HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 60\r\n\r\n`;
    const { sent, lastedMs } = await dripUntilCut(conn, request);
    expect(sent).toBeLessThan(request.length);
    // Cut by the header deadline (2 s, checked every 0.5 s), not by Node's 30 s default sweep.
    expect(lastedMs).toBeGreaterThanOrEqual(1000);
    expect(lastedMs).toBeLessThan(15_000);
  });

  it('cuts off a client that sends its body one byte a second', async () => {
    const conn = await connection();
    const body = JSON.stringify(valid);
    conn.socket.write(
      `POST /api/v1/messages HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`,
    );
    const { sent, lastedMs } = await dripUntilCut(conn, body);
    expect(sent).toBeLessThan(body.length);
    expect(lastedMs).toBeLessThan(15_000);
  });

  it('closes a connection that never finishes its TLS handshake', async () => {
    const { port } = new URL(broker.url);
    const socket = connectTcp({ host: '127.0.0.1', port: Number(port) });
    socket.on('error', () => undefined);
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    const started = Date.now();
    await waitUntil(async () => socket.destroyed || undefined, 30_000, 'the server to drop the silent connection');
    await closed;
    expect(Date.now() - started).toBeLessThan(15_000);
  });
});

describe('afterwards', () => {
  it('still accepts a valid message, reports healthy, and stored exactly what it accepted', async () => {
    await expectAccepted({ ...valid, message_body: 'after the corpus' });
    const agent: Agent = mtlsAgent(bundle, 1);
    try {
      expect((await getJson(agent, `${broker.url}/readyz`)).body).toMatchObject({ ready: true });
      const health = await getJson(agent, `${broker.url}/api/v1/health`);
      expect(health.status).toBe(200);
      expect(health.body.status).not.toBe('down');
    } finally {
      await agent.close();
    }
    await waitUntil(
      async () => (await storedCount(workspace)) >= accepted.size,
      60_000,
      `${accepted.size} stored messages`,
    );
    const rows = await storedRows(workspace);
    expect(rows.length).toBe(accepted.size);
    for (const message of await openStored(workspace, rows)) {
      expect(message).toEqual({ message_id: message.message_id, ...accepted.get(message.message_id) });
    }
    expect(broker.child!.exitCode).toBeNull();
  });
});
