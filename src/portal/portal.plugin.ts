/**
 * The web portal, mounted under `/portal` of the one Fastify front, in its own
 * encapsulated context: helmet (strict CSP), cookies, form bodies, CSRF, Eta views, the
 * HTML error pages and the session hook apply to portal routes only, so the mTLS API
 * keeps its JSON-only behaviour and error schema. The portal needs no client certificate.
 *
 *   browser ─HTTPS─▶ /portal/* ─ session hook (JWT cookie → user row, token_version)
 *                                 ├─ CSRF check on every POST
 *                                 ├─ routes: auth, messages, admin (users, clients,
 *                                 │   certificates, dead letters, stats, audit), live (WebSocket hints)
 *                                 └─ actors: encryption (open, hash), ca (issue, renew, revoke)
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { dirname } from 'node:path';
import fastifyCookie from '@fastify/cookie';
import fastifyCsrf from '@fastify/csrf-protection';
import fastifyFormbody from '@fastify/formbody';
import fastifyHelmet from '@fastify/helmet';
import fastifyStatic from '@fastify/static';
import fastifyView from '@fastify/view';
import { Eta } from 'eta';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BrokerError } from '../errors.js';
import { toBrokerError } from '../http/error-handler.js';
import { registerAdminRoutes } from './admin.routes.js';
import { registerAuthRoutes } from './auth.routes.js';
import { registerMessagesRoutes } from './messages.routes.js';
import { registerLiveRoute } from './live.routes.js';
import { PORTAL_PREFIX, renderPage, viewHelpers } from './portal-render.js';
import type { PortalDeps } from './portal.types.js';
import { CSRF_COOKIE, SESSION_COOKIE, sessionCookieOptions } from './session-tokens.js';
import { isAdmin, scopeOf } from './tenant-scope.js';
import { escapeHtml } from './html-escape.js';

// Beside this module: src/ under vitest, dist/ (copied by `npm run build`) in production.
const VIEWS_DIR = fileURLToPath(new URL('../views/', import.meta.url));
const ASSETS_DIR = fileURLToPath(new URL('./assets/', import.meta.url));
const BOOTSTRAP_DIST = `${dirname(createRequire(import.meta.url).resolve('bootstrap/package.json'))}/dist`;
/** The only files /portal/assets serves (bootstrap's own, and ours). */
const ASSET_FILES = new Set([
  '/portal.css',
  '/portal.js',
  '/live.js',
  '/favicon.svg',
  '/css/bootstrap.min.css',
  '/js/bootstrap.bundle.min.js',
]);
/** Reachable without a session. */
const PUBLIC_PATHS = new Set([`${PORTAL_PREFIX}/login`]);

/** `GET /` leads a browser to the portal; everything else lives under /portal. */
export function registerPortal(app: FastifyInstance, options: PortalDeps): void {
  app.get('/', (_request, reply) => reply.redirect(`${PORTAL_PREFIX}/`, 303));
  app.register(portalPlugin, { ...options, prefix: PORTAL_PREFIX });
}

async function portalPlugin(app: FastifyInstance, options: PortalDeps): Promise<void> {
  const { auth } = options;

  await app.register(fastifyHelmet, {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'none'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        // Bootstrap draws its select arrows and toggler icons as data: SVGs.
        imgSrc: ["'self'", 'data:'],
        fontSrc: ["'self'"],
        connectSrc: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        baseUri: ["'none'"],
        objectSrc: ["'none'"],
      },
    },
    hsts: { maxAge: 15_552_000, includeSubDomains: false },
    referrerPolicy: { policy: 'same-origin' },
  });
  await app.register(fastifyCookie);
  await app.register(fastifyFormbody);
  await app.register(fastifyCsrf, {
    sessionPlugin: '@fastify/cookie',
    cookieKey: CSRF_COOKIE,
    cookieOpts: { ...sessionCookieOptions },
  });
  await app.register(fastifyView, {
    engine: { eta: new Eta({ views: VIEWS_DIR, cache: true, autoEscape: true, escapeFunction: escapeHtml }) },
    templates: VIEWS_DIR,
    // Without it @fastify/view turns Eta's cache off on every render (re-reading and
    // re-compiling each template: ~1/3 of a page's CPU). Templates change only with a release.
    production: true,
    defaultContext: { h: viewHelpers, prefix: PORTAL_PREFIX },
  });
  await app.register(fastifyStatic, {
    root: [ASSETS_DIR, BOOTSTRAP_DIST],
    prefix: '/assets/',
    decorateReply: false,
    index: false,
    maxAge: '1d',
    allowedPath: (pathName) => ASSET_FILES.has(pathName),
  });

  // Session: every portal request but assets and the sign-in page needs a live session.
  app.addHook('onRequest', async (request, reply) => {
    const path = request.url.split('?')[0] ?? '';
    if (path.startsWith(`${PORTAL_PREFIX}/assets/`)) return;
    const token = request.cookies[SESSION_COOKIE];
    const session = token ? await auth.authenticate(token) : undefined;
    if (session) {
      request.portal = { ...session, scope: scopeOf(session.user) };
      if (options.sessions.shouldRenew(session.claims)) {
        void reply.setCookie(SESSION_COOKIE, await auth.renew(session), {
          ...sessionCookieOptions,
          maxAge: options.sessions.idleSeconds,
        });
      }
      return;
    }
    if (token) void reply.clearCookie(SESSION_COOKIE, sessionCookieOptions);
    if (PUBLIC_PATHS.has(path)) return;
    if (request.method === 'GET' || request.method === 'HEAD') {
      const params = new URLSearchParams();
      if (token) params.set('notice', 'session-expired');
      if (path !== `${PORTAL_PREFIX}/` && path !== PORTAL_PREFIX) params.set('next', request.url);
      const query = params.toString();
      return reply.redirect(`${PORTAL_PREFIX}/login${query ? `?${query}` : ''}`, 303);
    }
    throw new BrokerError('SESSION_REQUIRED');
  });
  // CSRF on every form post (the body is parsed by now); sign-in included, against login CSRF.
  app.addHook('preHandler', (request, reply, done) => {
    if (request.method !== 'POST') return done();
    app.csrfProtection(request, reply, done);
  });
  // Portal pages carry personal data: never cached, never framed (CSP), no MIME sniffing (helmet).
  app.addHook('onSend', async (request, reply) => {
    if (!request.url.startsWith(`${PORTAL_PREFIX}/assets/`)) void reply.header('cache-control', 'no-store');
  });

  app.setErrorHandler((error: FastifyError, request, reply) => renderError(error, request, reply));
  app.setNotFoundHandler((request, reply) =>
    renderError(new BrokerError('NOT_FOUND', 'There is no such page'), request, reply),
  );

  app.get('/', async (request, reply) =>
    reply.redirect(isAdmin(request.portal!.user) ? `${PORTAL_PREFIX}/admin` : `${PORTAL_PREFIX}/messages`, 303),
  );
  registerAuthRoutes(app, {
    auth,
    sessionIdleSeconds: options.sessions.idleSeconds,
    users: options.repositories.users,
  });
  registerMessagesRoutes(app, options);
  if (options.events) registerLiveRoute(app, { events: options.events, clients: options.repositories.clients, auth });
  await app.register(registerAdminRoutes, { ...options, prefix: '/admin' });
}

const CSRF_ERRORS = new Set(['FST_CSRF_INVALID_TOKEN', 'FST_CSRF_MISSING_SECRET']);

function renderError(error: FastifyError | BrokerError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const brokerError = CSRF_ERRORS.has((error as FastifyError).code)
    ? new BrokerError('CSRF_INVALID')
    : toBrokerError(error);
  if (brokerError.status >= 500)
    request.log.error({ err: error, error_code: brokerError.code }, 'portal request failed');
  else request.log.info({ error_code: brokerError.code }, 'portal request refused');
  if (brokerError.status === 503) void reply.header('retry-after', '5');
  // Internal errors never show their cause; the tracking id finds it in the log.
  const message = brokerError.code === 'INTERNAL_ERROR' ? 'Something went wrong on our side.' : brokerError.message;
  void reply.code(brokerError.status);
  return renderPage(request, reply, 'error', {
    title: `${brokerError.status} · ${titleOf(brokerError.status)}`,
    status: brokerError.status,
    code: brokerError.code,
    message,
    trackingId: request.id,
  });
}

function titleOf(status: number): string {
  if (status === 404) return 'Not found';
  if (status === 401) return 'Sign in';
  if (status === 403) return 'Refused';
  if (status === 429) return 'Slow down';
  if (status >= 500) return 'Unavailable';
  return 'Problem';
}
