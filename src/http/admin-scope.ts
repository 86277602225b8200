/**
 * Who calls the admin API (`/api/v1/admin/*`) and which domain an operation of theirs
 * applies to: the rules every admin route shares (certificates, clients), and how each
 * is documented in OpenAPI.
 */
import { BrokerError } from '../errors.js';
import { unthrottledErrorResponses } from './messages.schemas.js';

export interface AdminScope {
  /** Who acts, as the audit log names them: `user:<id>`. */
  actor: string;
  /** The one domain this caller administers, or null for every domain (superadmin). */
  domain: string | null;
}

/**
 * The domain an operation applies to. A domain admin is held to theirs (naming another is
 * 403 FORBIDDEN); a superadmin names one when the operation needs it (`required`) or may
 * leave it open.
 */
export function scopedDomain(scope: AdminScope, requested: string | undefined, required: true): string;
export function scopedDomain(scope: AdminScope, requested: string | undefined, required: boolean): string | undefined;
export function scopedDomain(scope: AdminScope, requested: string | undefined, required: boolean): string | undefined {
  if (scope.domain !== null) {
    if (requested !== undefined && requested !== scope.domain)
      throw new BrokerError('FORBIDDEN', `You administer domain ${scope.domain} only`);
    return scope.domain;
  }
  if (required && requested === undefined)
    throw new BrokerError('INVALID_PAYLOAD', 'domain is required', [
      { field: 'domain', rule: 'required', message: 'domain is required' },
    ]);
  return requested;
}

/**
 * OpenAPI: what each route is; authentication is the admin portal's session cookie.
 * `success` documents the answer by its real status (201 for what is issued), and every
 * route answers its refusals in the one error schema.
 */
export const documented = (summary: string, description?: string, success: Record<number, object> = {}) => ({
  summary,
  ...(description ? { description } : {}),
  tags: ['admin'],
  security: [{ portalSession: [] as string[] }],
  response: { ...success, ...unthrottledErrorResponses },
});
