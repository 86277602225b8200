import { gzipSync } from 'node:zlib';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installErrorHandlers } from './error-handler.js';
import { declaredCharset, holdsLoneSurrogate, installJsonBodyParser } from './json-body-parser.js';

let app: FastifyInstance;

beforeAll(async () => {
  app = Fastify();
  installErrorHandlers(app);
  installJsonBodyParser(app);
  app.post('/echo', async (request) => ({ got: request.body }));
  // Answers without echoing: serialising 50,000 levels would overflow the reply, not the parser.
  app.post('/parsed', async (request) => ({ parsed: Array.isArray(request.body) }));
  await app.ready();
});
afterAll(() => app.close());

const post = (payload: string | Buffer, contentType = 'application/json', url = '/echo') =>
  app.inject({ method: 'POST', url, headers: { 'content-type': contentType }, payload });

describe('the JSON body parser', () => {
  it('parses valid UTF-8 JSON, escaped surrogate pairs and a literal backslash-u included', async () => {
    expect((await post('{"a":"grüße \\ud83d\\ude00 🙂 \\\\ud800"}')).json()).toEqual({
      got: { a: 'grüße 😀 🙂 \\ud800' },
    });
    expect((await post('{"a":1}', 'application/json; charset=utf-8')).json()).toEqual({ got: { a: 1 } });
  });

  it('refuses invalid UTF-8 rather than decoding it to U+FFFD', async () => {
    for (const bytes of [[0xc3, 0x28], [0xff], [0xed, 0xa0, 0x80], [0xc0, 0xaf]]) {
      const response = await post(Buffer.concat([Buffer.from('{"a":"'), Buffer.from(bytes), Buffer.from('"}')]));
      expect(response.statusCode).toBe(400);
      expect(response.json()).toMatchObject({
        error_code: 'MALFORMED_JSON',
        message: 'The request body is not valid UTF-8',
      });
    }
  });

  it('refuses a compressed body with 415, saying why, and takes Content-Encoding identity', async () => {
    const body = '{"a":1}';
    for (const encoding of ['gzip', 'deflate, gzip', 'br']) {
      const response = await app.inject({
        method: 'POST',
        url: '/echo',
        headers: { 'content-type': 'application/json', 'content-encoding': encoding },
        payload: gzipSync(body),
      });
      expect(response.statusCode, encoding).toBe(415);
      expect(response.json()).toMatchObject({
        error_code: 'UNSUPPORTED_MEDIA_TYPE',
        message: `Content-Encoding ${encoding} is not supported: send the JSON body uncompressed`,
      });
    }
    const identity = await app.inject({
      method: 'POST',
      url: '/echo',
      headers: { 'content-type': 'application/json', 'content-encoding': 'Identity' },
      payload: body,
    });
    expect(identity.json()).toEqual({ got: { a: 1 } });
  });

  it('refuses a charset other than UTF-8 with 415 naming it, and takes utf-8 (or its ASCII subset) however written', async () => {
    for (const charset of ['utf-16', 'ISO-8859-1', '"latin1"', '']) {
      const response = await post('{"a":1}', `application/json; charset=${charset}`);
      expect(response.statusCode, charset).toBe(415);
      expect(response.json()).toMatchObject({
        error_code: 'UNSUPPORTED_MEDIA_TYPE',
        message: `charset=${charset.replaceAll('"', '')} is not supported: send the JSON body as UTF-8 (charset=utf-8, or none)`,
      });
    }
    for (const type of [
      'application/json; charset=UTF-8',
      'application/json;charset="utf-8"',
      'application/json ; Charset = utf-8',
      'application/json; charset=utf8',
      'application/json; charset=US-ASCII',
    ]) {
      expect((await post('{"a":1}', type)).json(), type).toEqual({ got: { a: 1 } });
    }
    expect(declaredCharset('application/json; foo=bar')).toBeUndefined();
    expect(declaredCharset('application/json; foo=bar; charset="utf-16"')).toBe('utf-16');
  });

  it('refuses unpaired surrogates in values and keys, at any depth', async () => {
    for (const body of [
      '{"a":"\\ud800"}',
      '{"a":"x\\udfff"}',
      '{"\\udc00":1}',
      '[[[{"a":["ok","\\ud83d"]}]]]',
      '"\\ude00\\ud83d"',
    ]) {
      const response = await post(body);
      expect(response.statusCode, body).toBe(400);
      expect(response.json().error_code).toBe('MALFORMED_JSON');
    }
  });

  it('keeps refusing prototype poisoning, and survives deep nesting', async () => {
    for (const body of ['{"__proto__":{"x":1}}', '{"a":[{"constructor":{"prototype":{"x":1}}}]}']) {
      const response = await post(body);
      expect(response.statusCode).toBe(400);
      expect(response.json()).toMatchObject({
        error_code: 'MALFORMED_JSON',
        message: 'The request body holds a __proto__ or constructor.prototype key',
      });
    }
    expect((await post('{"a":')).json()).toMatchObject({
      error_code: 'MALFORMED_JSON',
      message: 'The request body is not valid JSON: it ends before the JSON does',
    });
    const deep = `${'['.repeat(50_000)}"\\ud83d\\ude00"${']'.repeat(50_000)}`;
    expect((await post(deep, 'application/json', '/parsed')).json()).toEqual({ parsed: true });
    expect(holdsLoneSurrogate(JSON.parse(`${'['.repeat(50_000)}"\\ud800"${']'.repeat(50_000)}`))).toBe(true);
  });

  it('says where broken JSON breaks, without quoting the body back', async () => {
    const refusal = async (body: string) => {
      const response = await post(body);
      expect(response.statusCode, body).toBe(400);
      expect(response.json().error_code, body).toBe('MALFORMED_JSON');
      return response.json().message as string;
    };
    expect(await refusal('{"sender_number":"+12",\n "message_body":"a",\n}')).toBe(
      'The request body is not valid JSON: Expected double-quoted property name at line 3, column 1',
    );
    expect(await refusal('\uFEFF{"a" 1}')).toBe(
      "The request body is not valid JSON: Expected ':' after property name at line 1, column 6",
    );
    expect(await refusal('   ')).toBe('The request body is empty: send a JSON object');
    // V8 quotes the text in "Unexpected token" messages: the broker's answer does not.
    expect(await refusal('secret-number +14155550123')).toBe('The request body is not valid JSON');
  });
});
