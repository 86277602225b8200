/**
 * Messages: the list (newest first, keyset pages, filters), the filter form (POST, so a
 * typed phone number never lands in a URL) and one message. Read-only: the portal
 * neither edits nor exports messages.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { maskNumber } from '../crypto/number-hash.js';
import { MESSAGE_STATUSES } from '../db/schema.js';
import { BrokerError } from '../errors.js';
import { hasErrors, text, type FormErrors } from './form-fields.js';
import type { ListQuery } from './message-browser.service.js';
import { PORTAL_PREFIX, renderPage, viewHelpers } from './portal-render.js';
import type { PortalDeps } from './portal.types.js';

const E164 = /^\+[1-9]\d{1,14}$/;

export function registerMessagesRoutes(
  app: FastifyInstance,
  deps: Pick<PortalDeps, 'browser' | 'config' | 'messagePages' | 'events'>,
): void {
  const { browser, config, messagePages } = deps;
  // The configured domains are the ones in force now (a reload may have added one).
  const domainsOf = async (request: FastifyRequest) =>
    request.portal!.scope.kind === 'all'
      ? [...new Set([...config.domains().keys(), ...(await messagePages.domains())])].sort()
      : [];
  // What a filter may name: a tenant's own domain is accepted (it narrows nothing: their
  // scope is that domain already), any other stays a 400; a superadmin names any.
  const filterDomainsOf = async (request: FastifyRequest) => {
    const scope = request.portal!.scope;
    return scope.kind === 'domain' || scope.kind === 'client' ? [scope.domain] : domainsOf(request);
  };

  /** `shown`: what the form shows back (the typed dates too), where it differs from the filters run. */
  async function listPage(
    request: FastifyRequest,
    reply: FastifyReply,
    query: ListQuery,
    errors: FormErrors,
    shown: ListQuery = query,
  ): Promise<FastifyReply> {
    const { user, scope } = request.portal!;
    const cursors = { before: text(request.query, 'before', 40), after: text(request.query, 'after', 40) };
    const result = await browser.list(user, scope, query, Object.keys(errors).length > 0 ? {} : cursors, request.ip);
    return renderPage(request, reply, 'messages', {
      title: 'Messages',
      nav: 'messages',
      live: deps.events !== undefined,
      ...result,
      query: shown,
      domains: await domainsOf(request),
      statuses: MESSAGE_STATUSES,
      errors,
      scopeKind: scope.kind,
    });
  }

  app.get('/messages', async (request, reply) =>
    listPage(request, reply, browser.parseQuery(request.query, await filterDomainsOf(request)), {}),
  );

  app.post('/messages/search', async (request, reply) => {
    // sh/sm come back in hidden fields: changing another filter keeps the sender filter.
    const { query, typed, errors } = browser.readFilters(request.body, await filterDomainsOf(request));
    if (query.from && query.to && query.from > query.to) errors['to'] = 'The end date is before the start date';
    const sender = text(request.body, 'sender', 32).replace(/[\s().-]/g, '');
    if (sender !== '' && !E164.test(sender))
      errors['sender'] = 'Enter the number in international form, like +14155550123';
    // A sender search is counted and audited (a limited oracle): only for a form that is
    // otherwise right, so a typo elsewhere does not spend one of the user's searches.
    if (sender !== '' && !hasErrors(errors)) {
      try {
        query.sh = (await browser.searchSender(request.portal!.user, request.portal!.scope, sender, request.ip)).join(
          ',',
        );
        query.sm = maskNumber(sender);
      } catch (error) {
        if (!(error instanceof BrokerError) || error.code !== 'SENDER_SEARCH_LIMITED') throw error;
        // Shown at the field, with the filters kept; 429 and Retry-After for scripts.
        errors['sender'] = error.message;
        const { retry_after_seconds } = error.details as { retry_after_seconds: number };
        void reply.code(error.status).header('retry-after', String(retry_after_seconds));
      }
    }
    if (hasErrors(errors)) {
      if (reply.statusCode < 400) void reply.code(422);
      // The typed number is not echoed back into the page either; the typed dates are.
      const filters = { ...query, sh: '', sm: '' };
      return listPage(request, reply, filters, errors, { ...filters, ...typed });
    }
    return reply.redirect(`${PORTAL_PREFIX}/messages${viewHelpers.query({ ...query })}`, 303);
  });

  app.get<{ Params: { messageId: string } }>('/messages/:messageId', async (request, reply) => {
    const { user, scope } = request.portal!;
    const message = await browser.show(user, scope, request.params.messageId, request.ip);
    if (!message) throw new BrokerError('NOT_FOUND', 'There is no such message');
    return renderPage(request, reply, 'message', { title: 'Message', nav: 'messages', message });
  });
}
