/**
 * The message body rule "at least one visible character", through Fastify's Ajv with the
 * server's options: the single route validates with the route schema, the batch route
 * compiles the same schema per item (`compileValidationSchema`); both are checked here.
 * The model of "invisible" is the Unicode table written out by hand (White_Space,
 * Default_Ignorable_Code_Point and the controls), independent of the pattern's property
 * escapes; combining marks by their general category.
 */
import fc from 'fast-check';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installErrorHandlers, invalidPayload } from './error-handler.js';
import { submitMessageBody } from './messages.schemas.js';
import { AJV_OPTIONS } from './server.js';

/** [first, last] code points of Unicode White_Space, plus U+FEFF that JS `\s` also counts. */
const WHITESPACE: Array<[number, number]> = [
  [0x09, 0x0d],
  [0x20, 0x20],
  [0x85, 0x85],
  [0xa0, 0xa0],
  [0x1680, 0x1680],
  [0x2000, 0x200a],
  [0x2028, 0x2029],
  [0x202f, 0x202f],
  [0x205f, 0x205f],
  [0x3000, 0x3000],
  [0xfeff, 0xfeff],
];
/** Unicode Default_Ignorable_Code_Point (DerivedCoreProperties.txt). */
const DEFAULT_IGNORABLE: Array<[number, number]> = [
  [0x00ad, 0x00ad],
  [0x034f, 0x034f],
  [0x061c, 0x061c],
  [0x115f, 0x1160],
  [0x17b4, 0x17b5],
  [0x180b, 0x180f],
  [0x200b, 0x200f],
  [0x202a, 0x202e],
  [0x2060, 0x206f],
  [0x3164, 0x3164],
  [0xfe00, 0xfe0f],
  [0xfeff, 0xfeff],
  [0xffa0, 0xffa0],
  [0xfff0, 0xfff8],
  [0x1bca0, 0x1bca3],
  [0x1d173, 0x1d17a],
  [0xe0000, 0xe0fff],
];
/** Unicode Cc, the C0 and C1 controls and DEL. */
const CONTROL: Array<[number, number]> = [
  [0x00, 0x1f],
  [0x7f, 0x9f],
];
/**
 * Combining marks show only on a base character. Some 2,400 code points in 300 ranges: the
 * general category is the definition, so the model asks for it by name (the exhaustive
 * check below still proves the pattern is exactly the union of the four classes).
 */
const MARK = /^\p{M}$/u;
const INVISIBLE_RANGES = [...WHITESPACE, ...DEFAULT_IGNORABLE, ...CONTROL];
const isInvisible = (cp: number) =>
  INVISIBLE_RANGES.some(([first, last]) => cp >= first && cp <= last) || MARK.test(String.fromCodePoint(cp));
const INVISIBLE = INVISIBLE_RANGES.flatMap(([first, last]) =>
  Array.from({ length: last - first + 1 }, (_, i) => String.fromCodePoint(first + i)),
);
const isSurrogate = (cp: number) => cp >= 0xd800 && cp <= 0xdfff;

const SENDER = '+14155550123';
const VISIBLE_MESSAGE =
  'message_body must contain a visible character, not only whitespace, invisible or control characters and combining marks';

type Validate = ((input: unknown) => boolean) & { errors?: Parameters<typeof invalidPayload>[0] | null };
let app: FastifyInstance;
/** The validator the batch route compiles for each item. */
let validateItem: Validate;

beforeAll(async () => {
  app = Fastify({ ajv: { customOptions: AJV_OPTIONS } });
  installErrorHandlers(app);
  app.post('/single', { schema: { body: submitMessageBody } }, async (_request, reply) => reply.code(202).send({}));
  app.post('/compile', async (request) => {
    validateItem = request.compileValidationSchema(submitMessageBody, 'body') as Validate;
    return {};
  });
  await app.inject({ method: 'POST', url: '/compile', payload: {} });
});

afterAll(async () => {
  await app.close();
});

const submit = (body: string) =>
  app.inject({ method: 'POST', url: '/single', payload: { sender_number: SENDER, message_body: body } });

describe('message_body: at least one visible character', () => {
  it('refuses every single whitespace, default-ignorable, control or combining-mark code point, and accepts every other one', () => {
    const wrong: string[] = [];
    for (let cp = 0; cp <= 0x10ffff; cp++) {
      if (isSurrogate(cp)) continue;
      const accepted = validateItem({ sender_number: SENDER, message_body: String.fromCodePoint(cp) });
      if (accepted === isInvisible(cp)) wrong.push(`U+${cp.toString(16).toUpperCase().padStart(4, '0')}`);
    }
    expect(wrong).toEqual([]);
  });

  it('refuses any run of invisible characters with 422 INVALID_PAYLOAD on message_body, on both routes', async () => {
    const invisibleBody = fc.string({ unit: fc.constantFrom(...INVISIBLE), minLength: 1, maxLength: 40 });
    await fc.assert(
      fc.asyncProperty(invisibleBody, async (body) => {
        const response = await submit(body);
        expect(response.statusCode).toBe(422);
        expect(response.json()).toMatchObject({
          error_code: 'INVALID_PAYLOAD',
          details: [{ field: 'message_body', rule: 'pattern', message: VISIBLE_MESSAGE }],
        });
        expect(validateItem({ sender_number: SENDER, message_body: body })).toBe(false);
        expect(invalidPayload(validateItem.errors ?? []).details).toEqual([
          { field: 'message_body', rule: 'pattern', message: VISIBLE_MESSAGE },
        ]);
      }),
      { numRuns: 300 },
    );
  });

  it('accepts invisible characters around one visible character', async () => {
    const invisible = fc.string({ unit: fc.constantFrom(...INVISIBLE), maxLength: 20 });
    const visible = fc
      .string({ unit: 'grapheme', minLength: 1, maxLength: 1 })
      .filter((text) => [...text].some((char) => !isInvisible(char.codePointAt(0)!)));
    await fc.assert(
      fc.asyncProperty(invisible, visible, invisible, async (before, char, after) => {
        const body = `${before}${char}${after}`;
        fc.pre([...body].length <= 1000);
        expect((await submit(body)).statusCode).toBe(202);
        expect(validateItem({ sender_number: SENDER, message_body: body })).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('refuses the reported bodies: zero-width spaces, a BOM, a word joiner, tags', async () => {
    for (const body of ['\u200b\u200b', '\ufeff', '\u2060', '\u200d\u200c', '\u{e0041}\u{e007f}', ' \u0085 ']) {
      expect((await submit(body)).statusCode, JSON.stringify(body)).toBe(422);
    }
  });

  it('refuses a body of control characters or combining marks only, on both routes, and takes a mark on a letter', async () => {
    for (const body of [
      '\u0000',
      '\u0001\u0002',
      '\u001b',
      '\u007f\u0080',
      '\u0301',
      '\u0301\u0308 \u20dd',
      '\u0000\u0301',
    ]) {
      expect((await submit(body)).statusCode, JSON.stringify(body)).toBe(422);
      expect(validateItem({ sender_number: SENDER, message_body: body }), JSON.stringify(body)).toBe(false);
    }
    for (const body of ['e\u0301', '\u0000x', 'a\u0308\u0000']) {
      expect((await submit(body)).statusCode, JSON.stringify(body)).toBe(202);
    }
  });
});

describe('message_body length', () => {
  it('counts Unicode code points, and says so when it refuses', async () => {
    const submit = (message_body: string) =>
      app.inject({
        method: 'POST',
        url: '/single',
        headers: { 'content-type': 'application/json' },
        payload: { sender_number: SENDER, message_body },
      });
    expect((await submit('😀'.repeat(1000))).statusCode).toBe(202);
    expect((await submit('👍🏽'.repeat(500))).statusCode).toBe(202);
    const refused = await submit('👍🏽'.repeat(501));
    expect(refused.statusCode).toBe(422);
    expect(refused.json().details).toEqual([
      {
        field: 'message_body',
        rule: 'maxLength',
        message:
          'message_body must be at most 1000 characters, counted as Unicode code points (an emoji with a skin tone, a flag or a letter with a combining accent counts 2)',
      },
    ]);
  });
});

describe('sizes', () => {
  it('says how many items or keys are allowed, in words a client reads', async () => {
    const metadata = Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`k${i}`, i]));
    const response = await app.inject({
      method: 'POST',
      url: '/single',
      headers: { 'content-type': 'application/json' },
      payload: { sender_number: SENDER, message_body: 'hi', metadata },
    });
    expect(response.json().details).toEqual([
      { field: 'metadata', rule: 'maxProperties', message: 'metadata must have at most 20 keys' },
    ]);
    const list = (limit: number, keyword: string) =>
      invalidPayload([{ instancePath: '/messages', schemaPath: '#/x', keyword, params: { limit }, message: '' }])
        .details;
    expect(list(1, 'minItems')).toEqual([
      { field: 'messages', rule: 'minItems', message: 'messages must hold at least 1 item' },
    ]);
    expect(list(100, 'maxItems')).toEqual([
      { field: 'messages', rule: 'maxItems', message: 'messages must hold at most 100 items' },
    ]);
  });
});

describe('callback_url', () => {
  it('says an https:// URL is needed, not the pattern', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/single',
      headers: { 'content-type': 'application/json' },
      payload: { sender_number: SENDER, message_body: 'hi', callback_url: 'http://hooks.example/x' },
    });
    expect(response.json().details).toEqual([
      { field: 'callback_url', rule: 'pattern', message: 'callback_url must be an https:// URL, without spaces' },
    ]);
  });
});

describe('metadata values', () => {
  const withMetadata = (raw: string) =>
    app.inject({
      method: 'POST',
      url: '/single',
      headers: { 'content-type': 'application/json' },
      payload: `{"sender_number":"${SENDER}","message_body":"hi","metadata":${raw}}`,
    });
  const PRECISION = `must be a number within ±${Number.MAX_SAFE_INTEGER}: a larger integer loses precision, send it as a string`;

  it('refuses a number past 2^53 − 1 instead of rounding it, with one detail, on both routes', async () => {
    for (const [raw, field] of [
      ['{"id":123456789012345678901234567890}', 'metadata.id'],
      ['{"id":9007199254740993}', 'metadata.id'],
      ['{"n":-9007199254740992}', 'metadata.n'],
      ['{"x":1e300}', 'metadata.x'],
    ] as const) {
      const response = await withMetadata(raw);
      expect(response.statusCode, raw).toBe(422);
      expect(response.json().details, raw).toEqual([
        { field, rule: expect.stringMatching(/^(maximum|minimum)$/), message: `${field} ${PRECISION}` },
      ]);
      expect(validateItem(JSON.parse(`{"sender_number":"${SENDER}","message_body":"hi","metadata":${raw}}`))).toBe(
        false,
      );
      expect(invalidPayload(validateItem.errors ?? []).details).toHaveLength(1);
    }
    for (const raw of ['{"id":9007199254740991}', '{"id":-9007199254740991}', '{"f":3.14}', '{"z":0}']) {
      expect((await withMetadata(raw)).statusCode, raw).toBe(202);
    }
  });

  it('says once per field what a value may be: an object or a list is one detail, not five', async () => {
    const response = await withMetadata('{"a":{"b":1},"list":[1],"ok":"fine"}');
    expect(response.statusCode).toBe(422);
    expect(response.json().details).toEqual([
      { field: 'metadata.a', rule: 'type', message: 'metadata.a must be a string, a number, a boolean or null' },
      { field: 'metadata.list', rule: 'type', message: 'metadata.list must be a string, a number, a boolean or null' },
    ]);
    const long = await withMetadata(`{"s":"${'x'.repeat(257)}"}`);
    expect(long.json().details).toEqual([
      { field: 'metadata.s', rule: 'maxLength', message: 'metadata.s must be at most 256 characters' },
    ]);
  });

  it('names a bad metadata key once, saying what a key may be, on both routes', async () => {
    const expected = [
      {
        field: 'metadata.bad key',
        rule: 'propertyNames',
        message: 'metadata key "bad key" must be 1 to 64 letters, digits, _ . or -',
      },
    ];
    const response = await withMetadata('{"bad key":1,"good":2}');
    expect(response.statusCode).toBe(422);
    expect(response.json().details).toEqual(expected);
    const item = { sender_number: SENDER, message_body: 'hi', metadata: { 'bad key': 1 } };
    expect(validateItem(item)).toBe(false);
    expect(invalidPayload(validateItem.errors ?? []).details).toEqual(expected);
  });
});
