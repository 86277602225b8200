/**
 * The JSON body parser of the front: Fastify's own (secure-json-parse, which refuses
 * `__proto__` and `constructor.prototype` keys) behind two checks it does not make.
 *
 * - The bytes must be valid UTF-8. Decoding them as Fastify does would turn an invalid
 *   sequence into U+FFFD silently, and the message would be stored altered.
 * - No string may hold an unpaired UTF-16 surrogate (`"\ud800"` is valid JSON, but no
 *   Unicode text): encrypting it as UTF-8 would store U+FFFD instead, and a webhook
 *   receiver could choke on it.
 *
 * Both are refused with 400 MALFORMED_JSON before validation, so nothing mangled reaches
 * the queue. A compressed body (`Content-Encoding: gzip`, …) and a charset other than
 * UTF-8 (`charset=utf-16`, `iso-8859-1`, …) are refused with 415 (RFC 9110 §15.5.16) and
 * say so: decoded as UTF-8 anyway, such a body would fail as "not valid UTF-8" at best,
 * and at worst (Latin-1 that happens to be valid UTF-8) be stored altered.
 */
import { isUtf8 } from 'node:buffer';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { BrokerError } from '../errors.js';

type CallbackJsonParser = (
  request: FastifyRequest,
  body: string,
  done: (error: Error | null, value?: unknown) => void,
) => void;

/** A `\uD800`–`\uDFFF` escape in the text: only then can a parsed string hold a surrogate. */
const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F]/;
/** In a `u` regex a well-formed pair is one astral code point: only lone surrogates match. */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

export function installJsonBodyParser(app: FastifyInstance): void {
  // Fastify's own parser is callback-style (its type is a union with the promise style).
  const parseJson = app.getDefaultJsonParser('error', 'error') as CallbackJsonParser;
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body: Buffer, done) => {
    const encoding = request.headers['content-encoding']?.trim().toLowerCase();
    if (encoding && encoding !== 'identity') {
      done(
        new BrokerError(
          'UNSUPPORTED_MEDIA_TYPE',
          `Content-Encoding ${encoding.slice(0, 40)} is not supported: send the JSON body uncompressed`,
        ),
        undefined,
      );
      return;
    }
    const charset = declaredCharset(request.headers['content-type']);
    if (charset !== undefined && !UTF8_LABELS.has(charset.toLowerCase())) {
      done(
        new BrokerError(
          'UNSUPPORTED_MEDIA_TYPE',
          `charset=${charset.slice(0, 40)} is not supported: send the JSON body as UTF-8 (charset=utf-8, or none)`,
        ),
        undefined,
      );
      return;
    }
    if (!isUtf8(body)) {
      done(new BrokerError('MALFORMED_JSON', 'The request body is not valid UTF-8'), undefined);
      return;
    }
    const text = body.toString('utf8');
    parseJson(request, text, (error, value) => {
      if (error) done(isValidJson(text) ? new BrokerError('MALFORMED_JSON', POISONING) : brokenJson(text), undefined);
      else if (SURROGATE_ESCAPE.test(text) && holdsLoneSurrogate(value)) {
        done(
          new BrokerError('MALFORMED_JSON', 'The request body holds an unpaired UTF-16 surrogate (\\ud800–\\udfff)'),
          undefined,
        );
      } else done(null, value);
    });
  });
}

/** UTF-8 and what a UTF-8 parser reads unchanged (ASCII is its 7-bit subset; a byte past it fails isUtf8 below). */
const UTF8_LABELS = new Set(['utf-8', 'utf8', 'us-ascii']);

/** `charset=x` or `charset="x"` among the Content-Type's parameters (RFC 9110 §8.3.1). */
const CHARSET_PARAMETER = /;\s*charset\s*=\s*(?:"([^"]*)"|([^\s;]*))/i;

/** The charset the Content-Type declares, or undefined when it declares none. */
export function declaredCharset(contentType: string | undefined): string | undefined {
  const match = contentType === undefined ? null : CHARSET_PARAMETER.exec(contentType);
  return match ? (match[1] ?? match[2]) : undefined;
}

/** Valid JSON that secure-json-parse still refused: it holds a key that could poison prototypes. */
const POISONING = 'The request body holds a __proto__ or constructor.prototype key';

/** A leading BOM, which the default parser skips too. */
const BOM = /^\uFEFF/;

/** Only on the error path: tells a poisoning refusal from broken JSON, for a clearer answer. */
function isValidJson(text: string): boolean {
  try {
    JSON.parse(text.replace(BOM, ''));
    return true;
  } catch {
    return false;
  }
}

/** V8's description of a syntax error and where it is; the rest of its messages quote the body. */
const SYNTAX_AT = /^([A-Za-z0-9 ',:{}[\]-]{1,80}) in JSON at position \d+ \(line (\d+) column (\d+)\)$/;

/**
 * Broken JSON, saying where it breaks (a trailing comma, a missing quote) so the client can
 * find it — but never quoting the body back: V8's "Unexpected token" messages do.
 */
export function brokenJson(text: string): BrokerError {
  const stripped = text.replace(BOM, '');
  if (stripped.trim() === '') return new BrokerError('MALFORMED_JSON', 'The request body is empty: send a JSON object');
  try {
    JSON.parse(stripped);
  } catch (error) {
    const message = (error as Error).message;
    if (message === 'Unexpected end of JSON input')
      return new BrokerError('MALFORMED_JSON', 'The request body is not valid JSON: it ends before the JSON does');
    const at = SYNTAX_AT.exec(message);
    if (at)
      return new BrokerError(
        'MALFORMED_JSON',
        `The request body is not valid JSON: ${at[1]} at line ${at[2]}, column ${at[3]}`,
      );
  }
  return new BrokerError('MALFORMED_JSON');
}

/** Walks keys and strings without recursion: the value may be nested thousands deep. */
export function holdsLoneSurrogate(value: unknown): boolean {
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const next = pending.pop();
    if (typeof next === 'string') {
      if (LONE_SURROGATE.test(next)) return true;
    } else if (Array.isArray(next)) {
      // No spread: a batch body may hold more items than a call takes arguments.
      for (const item of next) pending.push(item);
    } else if (next !== null && typeof next === 'object') {
      for (const [key, item] of Object.entries(next)) {
        if (LONE_SURROGATE.test(key)) return true;
        pending.push(item);
      }
    }
  }
  return false;
}
