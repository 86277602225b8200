/** What every admin route needs: who acts (for the audit log), which domains exist, and the scoped lookups that turn "not yours" into 404. */
import type { FastifyRequest } from 'fastify';
import type { BrokerConfig } from '../config/config.js';
import type { ClientRow } from '../db/schema.js';
import { BrokerError } from '../errors.js';
import { text } from './form-fields.js';
import type { PortalDeps } from './portal.types.js';
import { administersDomain, type Scope } from './tenant-scope.js';
import type { AuditContext } from './user-admin.service.js';

export class AdminContext {
  constructor(readonly options: PortalDeps) {}

  /** The config in force now (a reload may have changed the domains since the portal started). */
  get config(): Readonly<BrokerConfig> {
    return this.options.config.current();
  }

  /** The configured domains (what the broker serves, now). */
  get domains(): string[] {
    return [...this.options.config.domains().keys()];
  }

  by(request: FastifyRequest): AuditContext {
    const scope = this.scope(request);
    return {
      actor: `user:${request.portal!.user.id}`,
      ip: request.ip,
      ...(scope.kind === 'domain' ? { domain: scope.domain } : {}),
    };
  }

  scope(request: FastifyRequest): Scope {
    return request.portal!.scope;
  }

  /** Domains an admin list may show: their own, or for a superadmin the `?domain=` chosen (all when empty). */
  domainFilter(request: FastifyRequest): { domain?: string } {
    const scope = this.scope(request);
    if (scope.kind === 'domain') return { domain: scope.domain };
    const chosen = text(request.query, 'domain', 253);
    if (scope.kind === 'all') return chosen && this.domains.includes(chosen) ? { domain: chosen } : {};
    throw new BrokerError('NOT_FOUND');
  }

  /** The domains a form may offer: the admin's own, or every configured one. */
  domainChoices(request: FastifyRequest): string[] {
    const scope = this.scope(request);
    return scope.kind === 'domain' ? [scope.domain] : scope.kind === 'all' ? this.domains : [];
  }

  /**
   * Refuses (409) a one-time form sent a second time from the same page: a refresh of its
   * result page (once-forms.ts). Called after the form's own checks, before its action.
   */
  async sentOnce(request: FastifyRequest): Promise<void> {
    const formId = text(request.body, '_once', 64);
    if (await this.options.onceForms.take(request.portal!.user.id, formId === '' ? undefined : formId)) return;
    throw new BrokerError(
      'CONFLICT',
      'This form was sent already: reloading its result page does not do it again. Open the form anew to do it once more.',
    );
  }

  async audit(
    request: FastifyRequest,
    action: string,
    target: { type: string; id?: string | null; domain?: string | null },
    details?: Record<string, unknown>,
  ): Promise<void> {
    const by = this.by(request);
    await this.options.repositories.audit.record({
      actor: by.actor,
      action,
      target_type: target.type,
      target_id: target.id ?? null,
      domain: target.domain ?? null,
      ip: by.ip,
      details: details ?? null,
    });
  }

  /** A client the admin administers, or 404. */
  async client(request: FastifyRequest, id: number): Promise<ClientRow> {
    const client = await this.options.repositories.clients.findById(id);
    if (!client || !administersDomain(this.scope(request), client.domain))
      throw new BrokerError('NOT_FOUND', 'There is no such client');
    return client;
  }
}
