/**
 * The one Fastify front: HTTPS with optional client certificates (`requestCert: true,
 * rejectUnauthorized: false` — each route decides), the mTLS API, health, and later the
 * portal. `buildServer()` never listens: tests drive it with `inject()`, the supervisor
 * calls `listen()`.
 */
import { SERVER_TLS_POLICY } from './tls-policy.js';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { BrokerConfig } from '../config/config.js';
import type { LiveConfig } from '../config/live-config.js';
import type { Logger } from '../logger.js';
import type { HealthService } from '../health/health.service.js';
import type { IdentityResolver } from './client-identity.js';
import { installErrorHandlers } from './error-handler.js';
import { installJsonBodyParser } from './json-body-parser.js';
import { guardUpgrades } from './upgrade-guard.js';
import { boundConnectionLifetime } from './connection-lifetime.js';
import { limitConnections, overConnectionLimit } from './connection-limits.js';
import { clientRequestId, setRequestIdHeaders } from './request-id.js';
import { lazyChildLogger } from '../logging/lazy-child-logger.js';
import { clientErrorHandler, frameworkError, refuseConnect, refuseExpectation } from './error-handler.js';
import { BrokerError } from '../errors.js';
import { uuidV4 } from '../util/uuid.js';
import { registerOpenApi } from './openapi.js';
import { caAdminRoutes, type CaAdminRouteDeps } from './ca-admin.routes.js';
import { registerHealthRoutes } from './health.routes.js';
import { registerMessageRoutes, type MessagesRouteDeps } from './messages.routes.js';
import { instrumentRequests } from './metrics.hooks.js';
import { registerMetricsRoute, type MetricsEndpoint } from './metrics.routes.js';
import { isSuperadminSession } from '../portal/ca-admin-access.js';
import { registerPortal } from '../portal/portal.plugin.js';
import { isOperator } from './operator-access.js';
import type { PortalDeps } from '../portal/portal.types.js';
import type { EventHub } from '../events/event-hub.js';
import { eventRoutes } from './events.routes.js';
import websocket from '@fastify/websocket';

export interface TlsMaterial {
  key: string;
  cert: string;
  /** CA that issues client certificates. */
  ca: string;
  crl?: string;
}

/** What the front mounts: everything is built by the composition root (src/app/compose.ts). */
export interface FrontDeps {
  /** The config in force (a fixed config in tests: `new LiveConfig(config)`). */
  config: LiveConfig;
  logger: Logger;
  tls?: TlsMaterial;
  identity: IdentityResolver;
  ingest: MessagesRouteDeps['ingest'];
  /** The front's Redis connection (idempotency records of refused requests, status lookups). */
  redis: Redis;
  messages: MessagesRouteDeps['messages'];
  health: HealthService;
  /** The web portal under /portal (absent: no portal, e.g. API-only tests). */
  portal?: PortalDeps;
  /** Certificate admin API (`caAdminAccess` of the portal); registered only with an `authorize` hook. */
  caAdmin?: CaAdminRouteDeps;
  /** `/metrics` (all threads merged); absent = no route. */
  metrics?: MetricsEndpoint;
  /** Fan-out of status events to `GET /api/v1/events` (absent: no such route). */
  events?: EventHub;
  /** Test-only (MB_FAULT_INJECTION=1): crash an actor from outside the process. */
  crashActor?: (name: string) => Promise<void>;
}

/**
 * Fastify's Ajv, for the route schemas and the batch items alike: no coercion, no defaults,
 * no silent removal, every error named. Ajv's own default `unicodeRegExp: true` stays: the
 * message body's pattern needs Unicode property escapes.
 */
export const AJV_OPTIONS = {
  removeAdditional: false,
  coerceTypes: false,
  allErrors: true,
  useDefaults: false,
} as const;

export function buildServer(deps: FrontDeps): FastifyInstance {
  // Server options, TLS and the mounted parts need a restart to change: read once here.
  const config = deps.config.current();
  // Typed as the plain instance: routes do not care whether the raw server is http or https.
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    // One log line per refused or failed request (error handler), none per success: at
    // 15k requests/s a line each would cost more than the request.
    // Log lines carry the request's id as `tracking_id`, the name the error schema gives it.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'tracking_id' }),
    // The request's child logger is made only if the request logs something.
    // A client's own X-Request-Id goes beside it as `client_request_id` (see genReqId).
    childLoggerFactory: (logger, bindings, options, raw) => {
      const clientId = clientRequestId(raw.headers);
      return lazyChildLogger(
        logger as Logger,
        clientId ? { ...bindings, client_request_id: clientId } : bindings,
        options,
      );
    },
    bodyLimit: config.server.body_limit_bytes,
    requestTimeout: config.server.request_timeout_ms,
    keepAliveTimeout: config.server.keep_alive_timeout_ms,
    // An idle socket is closed silently: it must outlast the request deadline, or a stalled
    // body would be cut without its 408 (Node checks that deadline only every sweep).
    connectionTimeout: idleSocketTimeout(config.server),
    // Requests that arrive while closing get SHUTTING_DOWN in the one error schema (hook
    // below) instead of Fastify's own 503 body.
    return503OnClosing: false,
    clientErrorHandler,
    frameworkErrors: frameworkError,
    // The tracking id is always ours and unique: a client-chosen one would let two requests
    // (or two clients) share the id an operator looks up. The client's X-Request-Id, when
    // sane, is echoed apart as X-Client-Request-Id and logged as `client_request_id`.
    // As crypto.randomUUID, with less garbage per request (src/util/uuid.ts).
    genReqId: () => uuidV4(),
    ajv: { customOptions: AJV_OPTIONS },
    ...(deps.tls
      ? {
          https: {
            key: deps.tls.key,
            cert: deps.tls.cert,
            ca: deps.tls.ca,
            ...(deps.tls.crl ? { crl: deps.tls.crl } : {}),
            // Node would refuse an HTTP/1.1 request without Host itself, with an empty 400:
            // the onRequest hook refuses it in the one schema instead (missingHost).
            requireHostHeader: false,
            requestCert: true,
            rejectUnauthorized: false,
            minVersion: config.server.tls_min_version,
            // TLS 1.3 first: no renegotiation, faster handshakes.
            maxVersion: 'TLSv1.3' as const,
            ...SERVER_TLS_POLICY,
            ...slowClientDeadlines(config.server),
          },
        }
      : {}),
  }) as unknown as FastifyInstance;

  if (deps.tls) {
    boundConnectionLifetime(app.server as Server, config.server.connection_max_lifetime_ms);
    limitConnections(app.server as Server, {
      total: config.server.max_connections,
      perClient: config.server.max_connections_per_client,
    });
  }

  installErrorHandlers(app);
  instrumentRequests(
    app,
    config.domains.map((d) => d.name),
  );
  let closing = false;
  app.addHook('preClose', async () => void (closing = true));
  // The one hook every request runs (callback style: no promise). The ids go on the reply
  // here rather than in an onSend hook: headers set now stay on every answer, an error's
  // too, and without an onSend hook Fastify sends a reply without running a hook chain.
  // (Fastify's refusals before routing get them in sendError.)
  app.addHook('onRequest', (request, reply, done) => {
    setRequestIdHeaders(request, reply);
    if (closing) done(new BrokerError('SHUTTING_DOWN'));
    else if (overConnectionLimit(request.raw.socket)) {
      void reply.header('connection', 'close').header('retry-after', '1');
      done(new BrokerError('TOO_MANY_CONNECTIONS'));
    } else done(unsupportedTransferCoding(request.headers['transfer-encoding']) ?? missingHost(request.raw));
  });
  // Every method some route takes: what a CONNECT's 405 names in Allow.
  const methods = new Set<string>();
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) methods.add(method);
  });
  app.server.on('connect', (_request: IncomingMessage, socket: Socket) => refuseConnect(app.log, socket, [...methods]));
  app.server.on('checkExpectation', (request: IncomingMessage, response: ServerResponse) =>
    refuseExpectation(app.log, request, response),
  );
  registerOpenApi(app, config.server.docs);
  // The API speaks JSON only: a text/plain body is refused with 415, not parsed as a string.
  app.removeContentTypeParser('text/plain');
  installJsonBodyParser(app);
  // An upgrade only where a route takes one, and a well-formed handshake: else a JSON 400.
  guardUpgrades(app);

  // WebSockets (client events, the live portal), on the root so every context may route one.
  // The frames a client sends (a filter) are small; anything larger is not one.
  void app.register(websocket, { options: { maxPayload: 128 * 1024 } });

  // In a plugin, so that @fastify/swagger (registered above) sees these routes.
  void app.register(async (api) => {
    // Health details describe every tenant: operators only (loopback, metrics identity, superadmin session).
    const portal = config.portal.enabled ? deps.portal : undefined;
    registerHealthRoutes(
      api,
      deps.health,
      async (request) =>
        (await isOperator(deps.config.current(), deps.identity, request)) ||
        (portal !== undefined && (await isSuperadminSession(portal.auth, request))),
    );
    registerMessageRoutes(api, {
      config: deps.config,
      identity: deps.identity,
      ingest: deps.ingest,
      redis: deps.redis,
      messages: deps.messages,
    });
    if (deps.metrics) {
      registerMetricsRoute(api, deps.metrics, deps.identity, deps.config);
    }
    if (deps.events)
      await api.register(eventRoutes, { config: deps.config, identity: deps.identity, hub: deps.events });
  });
  if (deps.crashActor) registerFaultInjection(app, deps.crashActor);
  if (deps.portal && config.portal.enabled)
    registerPortal(app, deps.events ? { ...deps.portal, events: deps.events } : deps.portal);
  if (deps.caAdmin?.authorize) void app.register(caAdminRoutes, deps.caAdmin);
  return app;
}

/**
 * Node's parser takes `Transfer-Encoding: gzip, chunked` and undoes only the chunking: the
 * body would be read as plain bytes. Only `chunked` alone is accepted; anything else is
 * refused (415, as a Content-Encoding is) before the body is read.
 */
export function unsupportedTransferCoding(transferEncoding: string | undefined): BrokerError | undefined {
  if (transferEncoding === undefined || transferEncoding.trim().toLowerCase() === 'chunked') return undefined;
  return new BrokerError(
    'UNSUPPORTED_MEDIA_TYPE',
    `Transfer-Encoding ${transferEncoding.slice(0, 40)} is not supported: send the body as is, with a Content-Length or Transfer-Encoding: chunked`,
  );
}

/** HTTP/1.1 requires a Host header (RFC 9112 §3.2): 400, as Node would answer, but in the one schema. */
export function missingHost(raw: IncomingMessage): BrokerError | undefined {
  if (raw.headers.host !== undefined || raw.httpVersion !== '1.1') return undefined;
  return new BrokerError('BAD_REQUEST', 'An HTTP/1.1 request needs a Host header');
}

/** Chaos tests kill actors through this; it exists only when fault injection is switched on, and only for loopback. */
function registerFaultInjection(app: FastifyInstance, crashActor: (name: string) => Promise<void>): void {
  app.post<{ Params: { name: string } }>('/__test/actors/:name/crash', async (request, reply) => {
    if (request.ip !== '127.0.0.1' && request.ip !== '::1') throw new BrokerError('NOT_FOUND');
    await crashActor(request.params.name);
    return reply.code(202).send({ crashed: request.params.name });
  });
}

/**
 * Deadlines against slow clients (one byte a second keeps a socket from ever going idle):
 * the handshake and then the headers must each arrive within `headers_timeout_ms`, the
 * whole request within `request_timeout_ms`. Node checks the last two only every
 * `connectionsCheckingInterval` (30 s by default), so that is tightened too.
 */
export function slowClientDeadlines(server: Pick<BrokerConfig['server'], 'headers_timeout_ms' | 'request_timeout_ms'>) {
  // Node refuses a header deadline later than the request deadline: the smaller wins.
  const headersTimeout = Math.min(server.headers_timeout_ms, server.request_timeout_ms);
  return {
    handshakeTimeout: headersTimeout,
    headersTimeout,
    requestTimeout: server.request_timeout_ms,
    connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(headersTimeout / 4))),
  };
}

/**
 * The socket idle timeout: past the request deadline plus two of Node's sweeps, so that a
 * stalled request is answered 408 REQUEST_TIMEOUT by the sweep (clientErrorHandler) before
 * the idle timer destroys the socket without a word.
 */
export function idleSocketTimeout(
  server: Pick<BrokerConfig['server'], 'headers_timeout_ms' | 'request_timeout_ms'>,
): number {
  // The extra second is slack for a busy event loop, where both timers run late.
  return server.request_timeout_ms + 2 * slowClientDeadlines(server).connectionsCheckingInterval + 1000;
}
