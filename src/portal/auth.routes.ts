/** Sign-in, sign-out and the account page (own password). */
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { UsersRepository } from '../db/users.repository.js';
import { BrokerError } from '../errors.js';
import { accountDomainOf } from './account-domain.js';
import type { AuthService } from './auth.service.js';
import { hasErrors, safeNext, secret, text, type FormErrors } from './form-fields.js';
import { passwordProblem } from './password-hasher.js';
import { PORTAL_PREFIX as PREFIX, renderPage } from './portal-render.js';
import { SESSION_COOKIE, sessionCookieOptions } from './session-tokens.js';
import { isAdmin } from './tenant-scope.js';

export interface AuthRouteDeps {
  auth: AuthService;
  /** The session cookie's lifetime (`portal.session_idle_minutes`). */
  sessionIdleSeconds: number;
  users: UsersRepository;
}

/** Answered on the sign-in page itself; anything else is the error handler's. */
const SIGN_IN_REFUSALS = new Set(['LOGIN_FAILED', 'LOGIN_THROTTLED', 'LOGIN_DOMAIN_NEEDED']);

export function registerAuthRoutes(app: FastifyInstance, deps: AuthRouteDeps): void {
  const cookieOptions = { ...sessionCookieOptions, maxAge: deps.sessionIdleSeconds };
  const landing = (role: string) => (role === 'user' ? `${PREFIX}/messages` : `${PREFIX}/admin`);

  app.get('/login', async (request, reply) => {
    const next = safeNext(text(request.query, 'next', 600), PREFIX);
    if (request.portal) return reply.redirect(next ?? landing(request.portal.user.role), 303);
    // `?domain=` makes a tenant's own sign-in link (an email with accounts in several domains).
    const domain = text(request.query, 'domain', 253);
    return renderPage(request, reply, 'login', {
      title: 'Sign in',
      next: next ?? '',
      email: '',
      domain,
      error: undefined,
      maxFailures: deps.auth.maxFailures,
    });
  });

  app.post('/login', async (request, reply) => {
    const email = text(request.body, 'email', 300);
    const password = secret(request.body, 'password');
    const domain = text(request.body, 'domain', 300);
    const next = safeNext(text(request.body, 'next', 600), PREFIX);
    try {
      const { user, token } = await deps.auth.login(email, password, request.ip, accountDomainOf(domain));
      void reply.setCookie(SESSION_COOKIE, token, cookieOptions);
      request.log.info({ user_id: user.id }, 'portal sign-in');
      return reply.redirect(next ?? landing(user.role), 303);
    } catch (error) {
      if (!(error instanceof BrokerError) || !SIGN_IN_REFUSALS.has(error.code)) throw error;
      request.log.info({ error_code: error.code }, 'portal sign-in refused');
      void reply.code(error.status);
      return renderPage(request, reply, 'login', {
        title: 'Sign in',
        next: next ?? '',
        email,
        domain,
        error: error.message,
        askDomain: error.code === 'LOGIN_DOMAIN_NEEDED',
        maxFailures: deps.auth.maxFailures,
      });
    }
  });

  app.post('/logout', async (request, reply) => {
    await deps.auth.logout(request.portal!.user, request.ip);
    void reply.clearCookie(SESSION_COOKIE, sessionCookieOptions);
    return reply.redirect(`${PREFIX}/login?notice=signed-out`, 303);
  });

  app.get('/account', async (request, reply) => accountPage(request.portal!.user.id, {}, reply, 200));

  app.post('/account/password', async (request, reply) => {
    const state = request.portal!;
    const current = secret(request.body, 'current_password');
    const next = secret(request.body, 'new_password');
    const errors: FormErrors = {};
    const problem = passwordProblem(next);
    if (problem) errors['new_password'] = problem;
    else if (next === current) errors['new_password'] = 'The new password is the same as the current one';
    else if (next !== secret(request.body, 'confirm_password'))
      errors['confirm_password'] = 'The two new passwords differ';
    if (hasErrors(errors)) return accountPage(state.user.id, errors, reply, 422);
    try {
      const token = await deps.auth.changePassword(state, current, next, request.ip);
      void reply.setCookie(SESSION_COOKIE, token, cookieOptions);
      return reply.redirect(`${PREFIX}/account?notice=password-changed`, 303);
    } catch (error) {
      if (!(error instanceof BrokerError)) throw error;
      if (error.code === 'FORM_INVALID') return accountPage(state.user.id, error.details as FormErrors, reply, 422);
      if (error.code === 'LOGIN_THROTTLED')
        return accountPage(state.user.id, { current_password: error.message }, reply, error.status);
      if (error.code === 'ACCOUNT_LOCKED') {
        request.log.info({ user_id: state.user.id }, 'portal account locked by wrong current passwords');
        void reply.clearCookie(SESSION_COOKIE, sessionCookieOptions);
        return reply.redirect(`${PREFIX}/login?notice=account-locked`, 303);
      }
      throw error;
    }
  });

  async function accountPage(
    userId: number,
    errors: FormErrors,
    reply: FastifyReply,
    status: number,
  ): Promise<FastifyReply> {
    const request = reply.request;
    const user = (await deps.users.findById(userId))!;
    void reply.code(status);
    return renderPage(request, reply, 'account', {
      title: 'Account',
      nav: 'account',
      account: {
        email: user.email,
        role: user.role,
        domain: user.domain,
        last_login_at: user.last_login_at,
        created_at: user.created_at,
      },
      admin: isAdmin(user),
      errors,
    });
  }
}
