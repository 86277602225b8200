/**
 * Every error leaves the front in the one shape `{error_code, message, details?,
 * tracking_id, timestamp}`. Fastify's own errors (schema, content type, size, JSON) are
 * translated into catalogue codes so that a client's mistake is never a 5xx.
 */
import { randomUUID } from 'node:crypto';
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyBaseLogger, FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BATCH_ROUTE, countRefusedMessage, MESSAGES_ROUTE } from '../metrics/front.metrics.js';
import { BrokerError, errorBody, type ErrorBody, type ErrorCode } from '../errors.js';
import { clientRequestId, setRequestIdHeaders } from './request-id.js';
import { ownValue } from '../util/own-value.js';
import { STATUS_EVENT_TYPES } from '../events/status-event.js';

const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'BAD_REQUEST',
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'MALFORMED_JSON',
  FST_ERR_CTP_INVALID_JSON_BODY: 'MALFORMED_JSON',
};

interface ValidationIssue {
  field: string;
  rule: string;
  message: string;
}

export function toBrokerError(error: FastifyError | BrokerError | Error): BrokerError {
  if (error instanceof BrokerError) return error;
  const fe = error as FastifyError;
  if (fe.validation) return invalidPayload(fe.validation, fe.validationContext);
  const mapped = fe.code ? ownValue(FASTIFY_CODES, fe.code) : undefined;
  if (mapped) return new BrokerError(mapped);
  // Only a JSON syntax error is MALFORMED_JSON: Fastify's other 400s are about the URL or
  // the framing, and saying "not valid JSON" for them sends a client looking in the wrong place.
  if (error instanceof SyntaxError) return new BrokerError('MALFORMED_JSON');
  if (fe.statusCode === 413) return new BrokerError('PAYLOAD_TOO_LARGE');
  if (fe.statusCode === 415) return new BrokerError('UNSUPPORTED_MEDIA_TYPE');
  if (fe.statusCode === 408) return new BrokerError('REQUEST_TIMEOUT');
  if (fe.statusCode === 404) return new BrokerError('NOT_FOUND');
  if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) return new BrokerError('BAD_REQUEST', fe.message);
  return new BrokerError('INTERNAL_ERROR', error.message);
}

/** What INVALID_PAYLOAD says when the query string, path or a header is wrong rather than the body. */
const INVALID_PART: Record<string, { message: string; whole: string }> = {
  querystring: { message: 'The query string does not match what this route accepts', whole: '(query)' },
  params: { message: 'The URL path does not match what this route accepts', whole: '(path)' },
  headers: { message: 'A request header does not match what this route accepts', whole: '(headers)' },
};

/** INVALID_PAYLOAD naming each field, from Ajv's errors (a route's or a batch item's). */
export function invalidPayload(
  issues: NonNullable<FastifyError['validation']>,
  context: FastifyError['validationContext'] = 'body',
): BrokerError {
  const part = ownValue(INVALID_PART, context);
  return new BrokerError(
    'INVALID_PAYLOAD',
    part?.message,
    collapseAnyOf(dropPropertyNameIssues(issues)).map((issue) => describeIssue(issue, part?.whole ?? '(body)')),
  );
}

type AjvIssue = NonNullable<FastifyError['validation']>[number];

/**
 * A value that fits no branch of an `anyOf` (a metadata value) gets one error per branch
 * and one more for the `anyOf`: five details saying the same thing. One instead: the
 * branch whose type matched but whose limit did not (a string too long, a number too
 * large), else "must be a string, a number, a boolean or null".
 */
function collapseAnyOf(issues: readonly AjvIssue[]): AjvIssue[] {
  const anyOfs = issues.filter((issue) => issue.keyword === 'anyOf');
  if (anyOfs.length === 0) return [...issues];
  const branchesOf = (anyOf: AjvIssue) =>
    issues.filter(
      (issue) => issue.instancePath === anyOf.instancePath && issue.schemaPath.startsWith(`${anyOf.schemaPath}/`),
    );
  const inBranch = new Set(anyOfs.flatMap(branchesOf));
  return issues.flatMap((issue) => {
    if (inBranch.has(issue)) return [];
    if (issue.keyword !== 'anyOf') return [issue];
    const branches = branchesOf(issue);
    const limit = branches.find((branch) => branch.keyword !== 'type');
    if (limit) return [limit];
    const types = branches.flatMap((branch) => String((branch.params as { type?: unknown }).type ?? '').split(','));
    return [{ ...issue, keyword: 'type', params: { type: types.filter(Boolean) } }];
  });
}

/**
 * A bad key under `propertyNames` (a metadata key with a space) gets two errors: the
 * inner `pattern` one, on the object ("metadata must match pattern"), and the
 * `propertyNames` one naming the key. Only the second says which key to fix.
 */
function dropPropertyNameIssues(issues: readonly AjvIssue[]): AjvIssue[] {
  const propertyNames = issues.filter((issue) => issue.keyword === 'propertyNames');
  return issues.filter(
    (issue) =>
      !propertyNames.some(
        (outer) => issue.instancePath === outer.instancePath && issue.schemaPath.startsWith(`${outer.schemaPath}/`),
      ),
  );
}

/**
 * The event socket's query fields in words: their patterns (100 UUIDs in one regex) say
 * nothing a client can act on.
 */
const QUERY_PATTERNS: Record<string, string> = {
  message_id: 'message_id must be 1 to 100 message ids (UUIDs), comma-separated; more in a filter frame',
  type: `type must be event types, comma-separated, among ${STATUS_EVENT_TYPES.join(', ')}`,
  last_event_id: 'last_event_id must be an event_id the broker sent: <ms>-<seq>, e.g. 1765000000000-0',
};

function describeIssue(issue: NonNullable<FastifyError['validation']>[number], whole: string): ValidationIssue {
  const params = issue.params as Record<string, unknown>;
  const base = issue.instancePath.replace(/^\//, '').replaceAll('/', '.');
  const extra = (params.missingProperty ?? params.additionalProperty ?? params.propertyName) as string | undefined;
  const field = [base, extra].filter(Boolean).join('.') || whole;
  const queryRule = whole === '(query)' && issue.keyword === 'pattern' ? ownValue(QUERY_PATTERNS, field) : undefined;
  if (queryRule) return { field, rule: issue.keyword, message: queryRule };
  return { field, rule: issue.keyword, message: messageFor(field, issue.keyword, params, issue.message) };
}

function messageFor(field: string, rule: string, params: Record<string, unknown>, fallback = 'is invalid'): string {
  if (field === 'sender_number' && rule === 'pattern')
    return 'sender_number must be an E.164 number: + then 2 to 15 digits, not starting with 0';
  if (field === 'message_body' && rule === 'pattern')
    return 'message_body must contain a visible character, not only whitespace, invisible or control characters and combining marks';
  if (field === 'callback_url' && rule === 'pattern') return 'callback_url must be an https:// URL, without spaces';
  if (rule === 'additionalProperties') return `${field} is not an accepted field`;
  if (rule === 'propertyNames' && field.startsWith('metadata.'))
    return `metadata key "${String(params.propertyName)}" must be 1 to 64 letters, digits, _ . or -`;
  if (rule === 'required') return `${field} is required`;
  // Ajv counts code points: a body of 501 👍🏽 is 1,002 of them, which "characters" alone hides.
  if (rule === 'maxLength' && field === 'message_body')
    return `message_body must be at most ${String(params.limit)} characters, counted as Unicode code points (an emoji with a skin tone, a flag or a letter with a combining accent counts 2)`;
  if (rule === 'maxLength') return `${field} must be at most ${String(params.limit)} characters`;
  // Ajv's own wording ("must NOT have fewer than 1 items") reads like a fault in the broker.
  if (rule === 'minItems')
    return `${field} must hold at least ${String(params.limit)} item${params.limit === 1 ? '' : 's'}`;
  if (rule === 'maxItems') return `${field} must hold at most ${String(params.limit)} items`;
  if (rule === 'maxProperties') return `${field} must have at most ${String(params.limit)} keys`;
  if (rule === 'minLength')
    return `${field} must be at least ${String(params.limit)} character${params.limit === 1 ? '' : 's'}`;
  if (rule === 'type' && Array.isArray(params.type)) return `${field} must be ${oneOfTypes(params.type as string[])}`;
  if (rule === 'type') return `${field} must be of type ${String(params.type)}`;
  if (field.startsWith('metadata.') && (rule === 'maximum' || rule === 'minimum'))
    return `${field} must be a number within ±${Number.MAX_SAFE_INTEGER}: a larger integer loses precision, send it as a string`;
  if (rule === 'maximum') return `${field} must be at most ${String(params.limit)}`;
  if (rule === 'minimum') return `${field} must be at least ${String(params.limit)}`;
  return `${field} ${fallback}`;
}

const A_TYPE: Record<string, string> = { integer: 'an integer', object: 'an object', array: 'an array', null: 'null' };

/** ['string', 'number', 'null'] → "a string, a number or null". */
function oneOfTypes(types: readonly string[]): string {
  const named = types.map((type) => A_TYPE[type] ?? `a ${type}`);
  return named.length < 2 ? (named[0] ?? 'of another type') : `${named.slice(0, -1).join(', ')} or ${named.at(-1)}`;
}

/**
 * Sends an error in the one schema and logs it on the request's line (which carries its
 * tracking id). `body` is given when a remembered response is sent again; `cause` is what
 * was thrown, for the log only.
 */
export function sendError(
  request: FastifyRequest,
  reply: FastifyReply,
  error: BrokerError,
  options: { body?: ErrorBody; cause?: unknown } = {},
): FastifyReply {
  // Every refusal of a whole submission passes here, thrown or answered (not a replay: that
  // is answered by replay()), and counts each message it carried.
  const route = request.routeOptions.url;
  if (route === MESSAGES_ROUTE) countRefusedMessage(error.code);
  else if (route === BATCH_ROUTE) countRefusedMessage(error.code, messagesInBatch(request.body));
  // Fastify's refusals before routing (frameworkError) never ran the onRequest hook that sets them.
  if (!reply.hasHeader('x-request-id')) setRequestIdHeaders(request, reply);
  // Who asked what: an operator searching the log for a client or a route finds its refusals.
  const context = { error_code: error.code, client: request.client?.common_name, method: request.method, route };
  if (error.status === 500) request.log.error({ ...context, err: options.cause ?? error }, 'request failed');
  // A 503 is a state the broker reports (Redis away, shutting down), not a fault in the
  // request's code: a warning with its reason, without a stack that points at the hand-off.
  else if (error.status >= 500)
    request.log.warn({ ...context, reason: error.message, details: error.details }, 'request failed');
  else request.log.info(context, 'request refused');
  // Routes that know better (rate limit, quota) set their own Retry-After first.
  if ((error.code === 'TOO_MANY_REQUESTS' || error.status === 503) && !reply.hasHeader('retry-after'))
    reply.header('retry-after', '1');
  return reply.code(error.status).send(options.body ?? errorBody(error, request.id));
}

/** The messages a refused batch carried: its list's length, or one when it has no readable list. */
function messagesInBatch(body: unknown): number {
  const messages = (body as { messages?: unknown } | null | undefined)?.messages;
  return Array.isArray(messages) && messages.length > 0 ? messages.length : 1;
}

export function installErrorHandlers(app: FastifyInstance): void {
  // Paths the app serves, to tell "wrong method" (405) from "no such path" (404).
  const routes: Array<{ method: string; path: RegExp; exact: boolean }> = [];
  app.addHook('onRoute', (route) => {
    const path = new RegExp(
      `^${route.url
        .replace(/[.+?^${}()|[\]\\]/g, '\\$&')
        .replace(/:[^/]+/g, '[^/]+')
        .replace(/\*/g, '.*')}$`,
    );
    const exact = !/[:*]/.test(route.url);
    for (const method of [route.method].flat()) routes.push({ method, path, exact });
  });

  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    if (error.code === 'ECONNRESET' && request.raw.socket.destroyed) {
      // The connection closed before the body arrived (the client hung up, or a deadline cut
      // it and clientErrorHandler answered and logged 408): no one reads an answer, and the
      // body was not malformed, which is what Fastify's 400 for it would log.
      request.log.info('request abandoned: the connection closed before its body arrived');
      void reply.code(400).send();
      return;
    }
    const refusal = toBrokerError(error);
    void sendError(request, reply, refusal.code === 'PAYLOAD_TOO_LARGE' ? tooLarge(request) : refusal, {
      cause: error,
    });
  });
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0]!;
    const matching = routes.filter((r) => r.path.test(path));
    // A path written out (`/api/v1/messages/batch`) is that route, not a `:message_id`.
    const named = matching.some((r) => r.exact) ? matching.filter((r) => r.exact) : matching;
    const allowed = [...new Set(named.map((r) => r.method))];
    if (allowed.length > 0) return sendError(request, reply, methodNotAllowed(request, reply, path, allowed));
    return sendError(request, reply, new BrokerError('NOT_FOUND', `No route for ${request.method} ${path}`));
  });
}

/**
 * 413 naming the route's limit: a message within every field's limit can still exceed it
 * (20 metadata values of 256 non-ASCII characters), and "too large" alone does not say by
 * how much to shrink it, nor that the operator can raise it.
 */
function tooLarge(request: FastifyRequest): BrokerError {
  const limit = request.routeOptions.bodyLimit;
  if (!limit) return new BrokerError('PAYLOAD_TOO_LARGE');
  return new BrokerError(
    'PAYLOAD_TOO_LARGE',
    `The request body is larger than this route's limit of ${limit} bytes (server.body_limit_bytes; a batch: 100 times it)`,
    { limit_bytes: limit },
  );
}

/** 405 naming the methods the path takes, also in `Allow`. */
export function methodNotAllowed(
  request: FastifyRequest,
  reply: FastifyReply,
  path: string,
  allowed: readonly string[],
): BrokerError {
  void reply.header('allow', allowed.join(', '));
  return new BrokerError(
    'METHOD_NOT_ALLOWED',
    `${request.method} is not allowed on ${path}; use ${allowed.join(', ')}`,
  );
}

/** Fastify's own refusals before routing (a malformed URL): the one schema too. */
export function frameworkError(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  void sendError(request, reply, error.code === 'FST_ERR_BAD_URL' ? badUrl(request.url) : toBrokerError(error));
}

/** A path Fastify cannot decode (`%`, `%zz`, an escape that is not UTF-8): named, cut short. */
function badUrl(url: string): BrokerError {
  const path = url.split('?')[0]!;
  const shown = path.length > 200 ? `${path.slice(0, 200)}…` : path;
  return new BrokerError('BAD_REQUEST', `The URL path ${shown} is not valid: a % must start an escape such as %2F`);
}

/** Node's parser errors with an answer of their own; anything else it refuses is BAD_REQUEST. */
const PARSER_REFUSALS: Record<string, ErrorCode> = {
  ERR_HTTP_REQUEST_TIMEOUT: 'REQUEST_TIMEOUT',
  HPE_HEADER_OVERFLOW: 'HEADERS_TOO_LARGE',
};

/**
 * Requests Node's HTTP parser refuses before Fastify sees them (garbage, headers too
 * large, a request that did not arrive in time): answered on the raw socket, still in the
 * one schema and with an X-Request-Id.
 */
export function clientErrorHandler(
  this: FastifyInstance,
  error: Error & { code?: string; reason?: unknown },
  socket: Socket,
): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const code = ownValue(PARSER_REFUSALS, error.code ?? '') ?? 'BAD_REQUEST';
  // llhttp's reason names what is wrong ("Duplicate Content-Length", "Invalid header
  // token"): its own fixed text, never the client's bytes.
  const refusal =
    code === 'BAD_REQUEST' && typeof error.reason === 'string'
      ? new BrokerError(code, `The request is not valid HTTP/1.1: ${error.reason.slice(0, 100)}`)
      : new BrokerError(code);
  const trackingId = randomUUID();
  this.log.info(
    { tracking_id: trackingId, error_code: refusal.code, cause: error.code },
    'request refused by the HTTP parser',
  );
  writeRawRefusal(socket, refusal, trackingId);
  socket.destroy(error);
}

/** An answer in the one schema written on a socket Fastify never saw as a request. */
function writeRawRefusal(socket: Socket, refusal: BrokerError, trackingId: string, headers = ''): void {
  const body = JSON.stringify(errorBody(refusal, trackingId));
  if (!socket.writable) return;
  socket.write(
    `HTTP/1.1 ${refusal.status} ${STATUS_CODES[refusal.status] ?? 'Bad Request'}\r\nConnection: close\r\n${headers}` +
      `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nX-Request-Id: ${trackingId}\r\n\r\n${body}`,
  );
}

/**
 * A CONNECT request (a proxy tunnel) never reaches Fastify, and without a listener Node
 * closes its socket without a word: 405 in the one schema instead, then the connection ends.
 */
export function refuseConnect(log: FastifyBaseLogger, socket: Socket, allowed: readonly string[]): void {
  const refusal = new BrokerError('METHOD_NOT_ALLOWED', 'CONNECT is not allowed: this server is not a proxy');
  const trackingId = randomUUID();
  log.info({ tracking_id: trackingId, error_code: refusal.code }, 'request refused');
  writeRawRefusal(socket, refusal, trackingId, `Allow: ${allowed.join(', ')}\r\n`);
  socket.end();
}

/**
 * An `Expect` other than 100-continue never reaches Fastify: without a listener Node
 * answers a bare 417 (no body, no X-Request-Id). Here the same 417, in the one schema.
 * The connection closes: the client may send the body it announced anyway.
 */
export function refuseExpectation(log: FastifyBaseLogger, request: IncomingMessage, response: ServerResponse): void {
  const expect = String(request.headers.expect ?? '').slice(0, 40);
  const refusal = new BrokerError(
    'EXPECTATION_FAILED',
    `Expect: ${expect} is not supported: send Expect: 100-continue or none`,
  );
  const trackingId = randomUUID();
  const clientId = clientRequestId(request.headers);
  log.info(
    { tracking_id: trackingId, error_code: refusal.code, ...(clientId ? { client_request_id: clientId } : {}) },
    'request refused',
  );
  const body = JSON.stringify(errorBody(refusal, trackingId));
  response.writeHead(refusal.status, {
    connection: 'close',
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'x-request-id': trackingId,
    ...(clientId ? { 'x-client-request-id': clientId } : {}),
  });
  response.end(body);
}
