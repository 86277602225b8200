/**
 * Who may use the admin API (`/api/v1/admin/*`, src/http/ca-admin.routes.ts: certificates, client disable/enable):
 * a signed-in portal admin, by the same session cookie as the pages. The API is JSON-only
 * (a cross-site form cannot send JSON) and the cookie is SameSite=Strict; a request that
 * says it comes from another origin is refused as well.
 *
 *   no or dead session → 401 SESSION_REQUIRED
 *   a user, or an admin without a domain → 403 FORBIDDEN
 *   admin → their domain; superadmin → every domain
 */
import type { FastifyRequest } from 'fastify';
import type { AdminScope, CaAdminRouteDeps } from '../http/ca-admin.routes.js';
import { BrokerError } from '../errors.js';
import type { PortalDeps } from './portal.types.js';
import { SESSION_COOKIE } from './session-tokens.js';
import { scopeOf } from './tenant-scope.js';

/** Built once by the composition root, from the portal's own session check. */
export function caAdminAccess(
  deps: Pick<PortalDeps, 'auth' | 'actors' | 'repositories' | 'clientStatus' | 'config'>,
): CaAdminRouteDeps {
  return {
    ca: deps.actors.ca,
    clients: {
      clients: deps.repositories.clients,
      status: deps.clientStatus,
      audit: deps.repositories.audit,
      domainCallback: (domain) => deps.config.domain(domain)?.status_callback,
    },
    authorize: async (request: FastifyRequest) => {
      const origin = request.headers.origin;
      if (origin !== undefined && origin !== `https://${request.host}`)
        throw new BrokerError('FORBIDDEN', 'Cross-origin requests are not accepted');
      const session = await deps.auth.authenticate(cookieValue(request.headers.cookie, SESSION_COOKIE));
      if (!session) throw new BrokerError('SESSION_REQUIRED');
      const scope = scopeOf(session.user);
      if (scope.kind !== 'all' && scope.kind !== 'domain')
        throw new BrokerError('FORBIDDEN', 'Certificate administration needs an admin account');
      request.portal = { ...session, scope };
    },
    scope: (request: FastifyRequest): AdminScope => {
      const { user, scope } = request.portal!;
      return { actor: `user:${user.id}`, domain: scope.kind === 'domain' ? scope.domain : null };
    },
  };
}

/**
 * Does this request carry a live superadmin session? For the routes outside the portal that
 * show installation-wide details to its operators (health): the session cookie is
 * `__Host-` (path /), so it reaches them too. Never throws.
 */
export async function isSuperadminSession(
  auth: Pick<PortalDeps['auth'], 'authenticate'>,
  request: FastifyRequest,
): Promise<boolean> {
  const token = cookieValue(request.headers.cookie, SESSION_COOKIE);
  if (token === undefined) return false;
  const session = await auth.authenticate(token).catch(() => undefined);
  return session !== undefined && scopeOf(session.user).kind === 'all';
}

/** One cookie from a Cookie header (the API context has no cookie plugin, and needs one value). */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return decodeCookie(part.slice(eq + 1).trim());
  }
  return undefined;
}

/** A malformed %-escape is a forged or broken cookie, not a server error: no session. */
function decodeCookie(raw: string): string | undefined {
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined;
  }
}
