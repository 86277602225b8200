/**
 * Admin pages for portal accounts: list, create (a generated password is shown once),
 * role and visibility, disable/enable, password reset, unlock. An admin manages the
 * accounts of their domain and may make users and admins there; a superadmin manages all.
 * Nobody changes their own role or disables themselves (no locking oneself out).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { USER_ROLES, type UserRow } from '../db/schema.js';
import { BrokerError } from '../errors.js';
import type { AdminContext } from './admin-context.js';
import { choice, idParam, secret, text, type FormErrors } from './form-fields.js';
import { PORTAL_PREFIX, renderPage } from './portal-render.js';
import { administersDomain, grantableRoles } from './tenant-scope.js';
import type { AccessInput } from './user-admin.service.js';

export function registerUsersRoutes(app: FastifyInstance, admin: AdminContext): void {
  const { repositories, userAdmin: users } = admin.options;
  const base = `${PORTAL_PREFIX}/admin/users`;

  /** The user, if the signed-in admin administers them; 404 otherwise. */
  async function target(request: FastifyRequest): Promise<UserRow> {
    const user = await repositories.users.findById(idParam(request.params));
    if (!user || !administersDomain(admin.scope(request), user.domain))
      throw new BrokerError('NOT_FOUND', 'There is no such user');
    return user;
  }

  function notSelf(request: FastifyRequest, user: UserRow): void {
    if (user.id === request.portal!.user.id)
      throw new BrokerError('BAD_REQUEST', 'You cannot do that to your own account; ask another admin');
  }

  /** Role, domain and client from a form, held to what the signed-in admin may grant. */
  function accessFrom(request: FastifyRequest): AccessInput {
    const scope = admin.scope(request);
    const role = choice(request.body, 'role', USER_ROLES) ?? 'user';
    if (!grantableRoles(scope).includes(role)) throw new BrokerError('BAD_REQUEST', 'You cannot grant that role');
    const domain = scope.kind === 'domain' ? scope.domain : text(request.body, 'domain', 253);
    return { role, domain, clientName: text(request.body, 'client', 64) };
  }

  async function formPage(
    request: FastifyRequest,
    reply: FastifyReply,
    template: string,
    data: Record<string, unknown>,
    status = 200,
  ): Promise<FastifyReply> {
    const filter = admin.domainFilter(request);
    const clients = await repositories.clients.list(filter);
    void reply.code(status);
    return renderPage(request, reply, template, {
      title: String(data['title'] ?? 'Users'),
      nav: 'users',
      roles: grantableRoles(admin.scope(request)),
      domains: admin.domainChoices(request),
      clients,
      errors: {},
      ...data,
    });
  }

  app.get('/users', async (request, reply) => {
    const filter = admin.domainFilter(request);
    const list = await repositories.users.list(filter);
    const clients = new Map((await repositories.clients.list(filter)).map((c) => [c.id, c.name]));
    return renderPage(request, reply, 'users', {
      title: 'Users',
      nav: 'users',
      users: list,
      clients,
      domains: admin.domainChoices(request),
      domain: filter.domain ?? '',
    });
  });

  app.get('/users/new', async (request, reply) =>
    formPage(request, reply, 'user-new', {
      title: 'New user',
      form: { email: '', role: 'user', domain: '', client: '' },
    }),
  );

  app.post('/users', async (request, reply) => {
    const access = accessFrom(request);
    const email = text(request.body, 'email', 300);
    await admin.sentOnce(request);
    try {
      const created = await users.create(
        { ...access, email, password: secret(request.body, 'password') },
        admin.by(request),
      );
      if (!created.generated) return reply.redirect(`${base}/${created.user.id}?notice=user-created`, 303);
      return renderPage(request, reply, 'password-shown', {
        title: 'User created',
        nav: 'users',
        subject: created.user,
        password: created.password,
        created: true,
      });
    } catch (error) {
      if (!(error instanceof BrokerError) || error.code !== 'FORM_INVALID') throw error;
      const form = { email, role: access.role, domain: access.domain ?? '', client: access.clientName ?? '' };
      return formPage(
        request,
        reply,
        'user-new',
        { title: 'New user', form, errors: error.details as FormErrors },
        422,
      );
    }
  });

  app.get('/users/:id', async (request, reply) => {
    const user = await target(request);
    const client = user.client_id === null ? undefined : await repositories.clients.findById(user.client_id);
    return formPage(request, reply, 'user', {
      title: user.email,
      subject: user,
      client,
      self: user.id === request.portal!.user.id,
    });
  });

  app.post('/users/:id/access', async (request, reply) => {
    const user = await target(request);
    notSelf(request, user);
    try {
      await users.setAccess(user, accessFrom(request), admin.by(request));
    } catch (error) {
      if (!(error instanceof BrokerError) || error.code !== 'FORM_INVALID') throw error;
      const client = user.client_id === null ? undefined : await repositories.clients.findById(user.client_id);
      return formPage(
        request,
        reply,
        'user',
        { title: user.email, subject: user, client, self: false, errors: error.details as FormErrors },
        422,
      );
    }
    return reply.redirect(`${base}/${user.id}?notice=user-updated`, 303);
  });

  app.post('/users/:id/disable', async (request, reply) => {
    const user = await target(request);
    notSelf(request, user);
    await users.setDisabled(user, true, admin.by(request));
    return reply.redirect(`${base}/${user.id}?notice=user-disabled`, 303);
  });

  app.post('/users/:id/enable', async (request, reply) => {
    const user = await target(request);
    await users.setDisabled(user, false, admin.by(request));
    return reply.redirect(`${base}/${user.id}?notice=user-enabled`, 303);
  });

  app.post('/users/:id/unlock', async (request, reply) => {
    const user = await target(request);
    await users.unlock(user, admin.by(request));
    return reply.redirect(`${base}/${user.id}?notice=user-unlocked`, 303);
  });

  app.post('/users/:id/reset-password', async (request, reply) => {
    const user = await target(request);
    notSelf(request, user);
    await admin.sentOnce(request);
    const password = await users.resetPassword(user, admin.by(request));
    return renderPage(request, reply, 'password-shown', {
      title: 'Password reset',
      nav: 'users',
      subject: user,
      password,
      created: false,
    });
  });
}
