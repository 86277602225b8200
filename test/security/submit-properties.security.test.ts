/**
 * Property-based tests of `POST /api/v1/messages` against the real supervisor: whatever
 * body a client sends — any JSON value, a valid message with fields dropped, replaced or
 * added, any Unicode (lone surrogates, controls, bidi marks, emoji) in any field, any
 * Content-Type — the broker answers either 202, and then stores exactly that message, or
 * a 4xx in the one error schema, and stores nothing. Never a 5xx.
 *
 * An independent model of the contract (`acceptable`) decides which of the two each body
 * deserves, so a body wrongly refused fails the test as surely as one wrongly accepted.
 * fast-check prints the seed and the shrunk body of a failure; replay it with
 * MB_PROPERTY_SEED=<seed>.
 */
import fc from 'fast-check';
import { request } from 'undici';
import type { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BrokerProcess,
  createWorkspace,
  demoBundle,
  mtlsAgent,
  postJson,
  sendJson,
  waitUntil,
  type ApiResponse,
  type Workspace,
} from '../support/broker-harness.js';
import { expectErrorSchema, openStored, storedCount, storedRows } from '../support/stored-messages.js';

/** MB_PROPERTY_RUNS=2000 explores further; MB_PROPERTY_SEED replays a reported failure. */
const RUNS = Number(process.env['MB_PROPERTY_RUNS'] ?? 200);
const SEED = process.env['MB_PROPERTY_SEED'] === undefined ? {} : { seed: Number(process.env['MB_PROPERTY_SEED']) };
const BODY_LIMIT = 16_384;

let workspace: Workspace;
let broker: BrokerProcess;
let agent: Agent;
/** Every 202 of this file, by message id: what was sent. */
const accepted = new Map<string, { sender_number: string; message_body: string; metadata?: unknown }>();

beforeAll(async () => {
  workspace = await createWorkspace({ server: { body_limit_bytes: BODY_LIMIT }, log: { level: 'warn' } });
  broker = new BrokerProcess(workspace);
  await broker.start();
  agent = mtlsAgent(demoBundle(workspace), 4);
});

afterAll(async () => {
  await agent?.close();
  await broker?.kill('SIGTERM');
  await workspace?.cleanup();
});

// ── The contract, modelled independently of the broker's schema ─────────────────────
const E164 = /^\+[1-9]\d{1,14}$/;
const METADATA_KEY = /^[A-Za-z0-9_.-]{1,64}$/;
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;
/**
 * Invisible characters: Unicode White_Space and Default_Ignorable_Code_Point, written out
 * as ranges (DerivedCoreProperties.txt) rather than with the broker's property escapes.
 */
const INVISIBLE_RANGES: Array<[number, number]> = [
  [0x09, 0x0d],
  [0x20, 0x20],
  [0x85, 0x85],
  [0xa0, 0xa0],
  [0xad, 0xad],
  [0x34f, 0x34f],
  [0x61c, 0x61c],
  [0x115f, 0x1160],
  [0x1680, 0x1680],
  [0x17b4, 0x17b5],
  [0x180b, 0x180f],
  [0x2000, 0x200f],
  [0x2028, 0x202f],
  [0x205f, 0x206f],
  [0x3000, 0x3000],
  [0x3164, 0x3164],
  [0xfe00, 0xfe0f],
  [0xfeff, 0xfeff],
  [0xffa0, 0xffa0],
  [0xfff0, 0xfff8],
  [0x1bca0, 0x1bca3],
  [0x1d173, 0x1d17a],
  [0xe0000, 0xe0fff],
];
/** Controls (Cc) show nothing either; nor does a combining mark without its base character. */
const CONTROL_RANGES: Array<[number, number]> = [
  [0x00, 0x1f],
  [0x7f, 0x9f],
];
const MARK = /^\p{M}$/u;
const hasVisible = (text: string) =>
  [...text].some((char) => {
    const cp = char.codePointAt(0)!;
    return (
      ![...INVISIBLE_RANGES, ...CONTROL_RANGES].some(([first, last]) => cp >= first && cp <= last) && !MARK.test(char)
    );
  });
const FIELDS = new Set(['sender_number', 'message_body', 'metadata']);

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const codePoints = (text: string) => [...text].length;
const isText = (value: unknown, min: number, max: number): value is string =>
  typeof value === 'string' && !LONE_SURROGATE.test(value) && codePoints(value) >= min && codePoints(value) <= max;

/**
 * What the JSON parser refuses for the whole body, before any schema: a `__proto__` key or
 * a `constructor` object with a `prototype` key (secure-json-parse), or an unpaired
 * surrogate in any key or string, at any depth.
 */
function refusedByParser(value: unknown): boolean {
  const pending = [value];
  while (pending.length > 0) {
    const next = pending.pop();
    if (typeof next === 'string' && LONE_SURROGATE.test(next)) return true;
    if (Array.isArray(next)) pending.push(...next);
    else if (isPlainObject(next)) {
      if (Object.keys(next).some((key) => key === '__proto__' || LONE_SURROGATE.test(key))) return true;
      if (
        isPlainObject(next.constructor) &&
        Object.hasOwn(next, 'constructor') &&
        Object.hasOwn(next.constructor, 'prototype')
      )
        return true;
      pending.push(...Object.values(next));
    }
  }
  return false;
}

/** The JSON value of a body the parser takes, or undefined for one it refuses whole. */
function parsed(text: string, limit: number): unknown {
  if (Buffer.byteLength(text) > limit) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return refusedByParser(value) ? undefined : value;
  } catch {
    return undefined;
  }
}

/** Whether the API promises to accept this exact JSON text. */
function acceptable(text: string): boolean {
  return meetsContract(parsed(text, BODY_LIMIT));
}

/** One message against the contract (a body of its own, or an item of a batch). */
function meetsContract(body: unknown): boolean {
  if (!isPlainObject(body)) return false;
  if (Object.keys(body).some((key) => !FIELDS.has(key))) return false;
  if (typeof body.sender_number !== 'string' || !E164.test(body.sender_number)) return false;
  if (!isText(body.message_body, 1, 1000) || !hasVisible(body.message_body)) return false;
  if (!Object.hasOwn(body, 'metadata')) return true;
  const metadata = body.metadata;
  if (!isPlainObject(metadata) || Object.keys(metadata).length > 20) return false;
  return Object.entries(metadata).every(
    ([key, value]) =>
      METADATA_KEY.test(key) &&
      (value === null ||
        (typeof value === 'number' && Math.abs(value) <= Number.MAX_SAFE_INTEGER) ||
        typeof value === 'boolean' ||
        isText(value, 0, 256)),
  );
}

/** A batch the route answers with 207 (its items judged one by one), or undefined for a refused envelope. */
function batchItems(text: string): unknown[] | undefined {
  const body = parsed(text, BODY_LIMIT * 100);
  if (!isPlainObject(body) || Object.keys(body).length !== 1 || !Array.isArray(body.messages)) return undefined;
  const items = body.messages as unknown[];
  return items.length >= 1 && items.length <= 100 && items.every(isPlainObject) ? items : undefined;
}

// ── Generators ─────────────────────────────────────────────────────────────────────
const e164 = fc
  .tuple(fc.integer({ min: 1, max: 9 }), fc.stringMatching(/^\d{1,14}$/))
  .map(([first, rest]) => `+${first}${rest}`);
/** Characters that break naive code: lone surrogates, NUL, bidi override, BOM, line separators, quotes, markup. */
const nastyUnit = fc.oneof(
  fc.constantFrom(
    '\ud800',
    '\udbff',
    '\udc00',
    '\udfff',
    '\u0000',
    '\u001b',
    '\u202e',
    '\ufeff',
    '\u2028',
    '\u00a0',
    '\u200b',
    '\u200d',
    '\u2060',
    '\u0085',
    '\u180e',
    '\u{e0041}',
    ' ',
    '\t',
    '\n',
    '"',
    '\\',
    '<script>',
    '${x}',
    '\u{1F600}',
    'e\u0301',
    '%00',
  ),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
);
const anyText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 1200 }),
  fc.string({ unit: nastyUnit, maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 300 }),
  fc.constantFrom(
    '',
    ' ',
    '\u3000\u00a0',
    '\u200b\u200b',
    '\ufeff\u034f',
    '+',
    '+0',
    '+1',
    '+1234567890123456',
    '+١٢٣٤٥٦٧',
    '+14155550123\n',
    ' +14155550123',
  ),
);
const metadataKey = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9_.-]{1,64}$/),
  anyText,
  fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'a'.repeat(65)),
);
const metadataValue = fc.oneof(
  anyText,
  fc.double(),
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.jsonValue({ maxDepth: 2 }),
);
const metadata = fc.dictionary(metadataKey, metadataValue, { maxKeys: 24 });
const validBody = fc
  .string({ unit: 'grapheme', minLength: 1, maxLength: 200 })
  .filter((text) => hasVisible(text) && codePoints(text) <= 1000);

const validMessage = fc.record(
  {
    sender_number: e164,
    message_body: validBody,
    metadata: fc.dictionary(
      fc.stringMatching(/^[A-Za-z0-9_.-]{1,64}$/),
      fc.oneof(fc.string({ maxLength: 50 }), fc.integer(), fc.boolean(), fc.constant(null)),
      { maxKeys: 5 },
    ),
  },
  { requiredKeys: ['sender_number', 'message_body'] },
);

const DROP = Symbol('drop');
const mutatedField = fc.constantFrom(
  'sender_number',
  'message_body',
  'metadata',
  'extra',
  '__proto__',
  'constructor',
  'Sender_Number',
  'message_body ',
  '',
);
const replacement = fc.oneof(
  fc.constant(DROP),
  fc.jsonValue({ maxDepth: 3 }),
  anyText,
  metadata,
  fc.integer(),
  fc.constant(null),
  fc.array(anyText, { maxLength: 3 }),
);
/** A valid message with up to three fields dropped, replaced or added (defineProperty: `__proto__` stays a key). */
const nearValidMessage = fc
  .tuple(validMessage, fc.array(fc.tuple(mutatedField, replacement), { maxLength: 3 }))
  .map(([base, mutations]) => {
    const body: Record<string, unknown> = { ...base };
    for (const [key, value] of mutations) {
      if (value === DROP) delete body[key];
      else Object.defineProperty(body, key, { value, enumerable: true, configurable: true, writable: true });
    }
    return body;
  });

// ── The property ───────────────────────────────────────────────────────────────────
async function submitAndJudge(text: string, contentType = 'application/json'): Promise<void> {
  const response = await postJson(agent, broker.url, text, { 'content-type': contentType });
  const what = `${response.status} ${JSON.stringify(response.body)} for ${contentType} ${text.slice(0, 300)}`;
  expect(response.status, what).toBeLessThan(500);
  const [mediaType, ...parameters] = contentType.split(';').map((part) => part.trim().toLowerCase());
  // JSON in UTF-8 only: a charset parameter, if any, must say so.
  const utf8 = parameters.every((p) => !p.startsWith('charset=') || p.replaceAll('"', '') === 'charset=utf-8');
  const promised = mediaType === 'application/json' && utf8 && acceptable(text);
  if (response.status === 202) {
    expect(promised, `accepted a body the contract refuses: ${what}`).toBe(true);
    remember(response, text);
  } else {
    expect(promised, `refused a body the contract accepts: ${what}`).toBe(false);
    expectErrorSchema(response, what);
  }
}

/** A batch: 207 with one result per item — 202 exactly for the items the contract accepts — or a refused envelope. */
async function submitBatchAndJudge(text: string): Promise<void> {
  const response = await sendJson(agent, 'POST', `${broker.url}/api/v1/messages/batch`, text);
  const what = `${response.status} ${JSON.stringify(response.body).slice(0, 500)} for ${text.slice(0, 300)}`;
  expect(response.status, what).toBeLessThan(500);
  const items = batchItems(text);
  if (items === undefined) {
    expectErrorSchema(response, what);
    return;
  }
  expect(response.status, what).toBe(207);
  const results = response.body.results as Array<{
    index: number;
    status: number;
    message_id?: string;
    error?: Record<string, unknown>;
  }>;
  expect(
    results.map((r) => r.index),
    what,
  ).toEqual(items.map((_, i) => i));
  for (const [i, item] of items.entries()) {
    const result = results[i]!;
    expect(result.status, `item ${i}: ${JSON.stringify(item).slice(0, 200)} → ${what}`).toBe(
      meetsContract(item) ? 202 : 422,
    );
    if (result.status === 202)
      accepted.set(result.message_id!, item as { sender_number: string; message_body: string; metadata?: unknown });
    else expect(result.error, what).toMatchObject({ error_code: 'INVALID_PAYLOAD', tracking_id: expect.any(String) });
  }
}

function remember(response: ApiResponse, text: string): void {
  const sent = JSON.parse(text) as { sender_number: string; message_body: string; metadata?: unknown };
  accepted.set(String(response.body.message_id), sent);
}

describe('POST /api/v1/messages under generated input', () => {
  it('any JSON value: 202 only for a valid message, otherwise a 4xx in the error schema', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.jsonValue({ maxDepth: 4 }), validMessage, metadata), (value) =>
        submitAndJudge(JSON.stringify(value)),
      ),
      { numRuns: RUNS, ...SEED },
    );
  });

  it('near-valid messages with dropped, replaced and extra fields', async () => {
    await fc.assert(
      fc.asyncProperty(nearValidMessage, (body) => submitAndJudge(JSON.stringify(body))),
      { numRuns: RUNS, ...SEED },
    );
  });

  it('any text in sender_number, message_body and metadata', async () => {
    const message = fc.record(
      { sender_number: fc.oneof(e164, anyText), message_body: fc.oneof(validBody, anyText), metadata },
      { requiredKeys: ['sender_number', 'message_body'] },
    );
    await fc.assert(
      fc.asyncProperty(message, (body) => submitAndJudge(JSON.stringify(body))),
      { numRuns: RUNS, ...SEED },
    );
  });

  it('any Content-Type with any body: only JSON is ever accepted', async () => {
    const contentType = fc.constantFrom(
      'application/json',
      'application/json; charset=utf-8',
      'application/json; charset="UTF-8"',
      'application/json; charset=utf-16',
      'application/json; charset=iso-8859-1',
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/xml',
      'application/octet-stream',
      'application/jsonp',
      'text/json',
      '*/*',
    );
    const body = fc.oneof(
      validMessage.map((m) => JSON.stringify(m)),
      validMessage.map((m) =>
        new URLSearchParams({ sender_number: m.sender_number, message_body: m.message_body }).toString(),
      ),
      anyText,
    );
    await fc.assert(
      fc.asyncProperty(body, contentType, (text, type) => submitAndJudge(text, type)),
      { numRuns: RUNS / 2, ...SEED },
    );
  });

  it('batches of valid, near-valid and arbitrary items: each item judged on its own, envelopes refused whole', async () => {
    const item = fc.oneof(validMessage, nearValidMessage, fc.jsonValue({ maxDepth: 2 }));
    const batch = fc.oneof(
      { weight: 4, arbitrary: fc.array(item, { minLength: 0, maxLength: 6 }).map((messages) => ({ messages })) },
      { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
      {
        weight: 1,
        arbitrary: fc
          .tuple(fc.array(validMessage, { minLength: 1, maxLength: 2 }), mutatedField, replacement)
          .map(([messages, key, value]) => ({ messages, [key]: value })),
      },
    );
    await fc.assert(
      fc.asyncProperty(batch, (body) => submitBatchAndJudge(JSON.stringify(body))),
      { numRuns: RUNS / 2, ...SEED },
    );
  });

  it('a body without a Content-Type is refused', async () => {
    const response = await request(`${broker.url}/api/v1/messages`, {
      method: 'POST',
      dispatcher: agent,
      body: '{"sender_number":"+14155550123","message_body":"hi"}',
    });
    const text = await response.body.text();
    expect(response.statusCode).toBeGreaterThanOrEqual(400);
    expect(response.statusCode).toBeLessThan(500);
    expect(JSON.parse(text)).toMatchObject({ error_code: expect.any(String), tracking_id: expect.any(String) });
  });

  it('stores every accepted message exactly as sent, and nothing else', async () => {
    expect(accepted.size).toBeGreaterThan(20);
    await waitUntil(
      async () => (await storedCount(workspace)) >= accepted.size,
      90_000,
      `${accepted.size} stored messages`,
    );
    const rows = await storedRows(workspace);
    expect(rows.length).toBe(accepted.size);
    const opened = await openStored(workspace, rows);
    for (const [i, message] of opened.entries()) {
      const sent = accepted.get(message.message_id);
      expect(sent, `stored ${message.message_id} was never accepted`).toBeDefined();
      expect(message.message_body).toBe(sent!.message_body);
      expect(message.sender_number).toBe(sent!.sender_number);
      const metadataText = rows[i]!.metadata;
      const storedMetadata = typeof metadataText === 'string' ? (JSON.parse(metadataText) as unknown) : metadataText;
      expect(storedMetadata ?? undefined).toEqual(
        sent!.metadata === undefined ? undefined : JSON.parse(JSON.stringify(sent!.metadata)),
      );
    }
  });
});
