/**
 * Forms whose action must not run twice from one page: issuing or renewing a certificate
 * (a new private key each time), creating a user, resetting a password (the password shown
 * first stops working). Their result pages answer the POST itself, so a browser's refresh
 * — "resubmit the form?" — would repeat the action with the same, still valid CSRF token.
 *
 * Each rendered page carries a random form id (`it.once`, a hidden `_once` field in those
 * forms). The first POST with an id takes it (SET NX in Redis, so every broker behind a
 * load balancer agrees); a second one is refused before anything is done. A POST without
 * an id (a script) is not affected: this guards browsers against refreshes, it is not
 * an authorization. Taken before the action, not after it: two quick clicks must not both
 * pass while the first one still runs.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { portalUserKeys } from '../queue/keys.js';

/** Long enough for any page left open, short enough that Redis forgets them. */
const TTL_MS = 24 * 3600_000;
const FORM_ID = /^[A-Za-z0-9_-]{22}$/;

export class OnceForms {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  /** A new form id for a page. */
  static newId(): string {
    return randomBytes(16).toString('base64url');
  }

  /**
   * True when the form may run: no id given (not a browser form), or an id seen for the
   * first time. A malformed id counts as none. Redis away: the form runs (the guard is a
   * convenience; refusing every issue while Redis is down would be worse).
   */
  async take(userId: number, formId: string | undefined): Promise<boolean> {
    if (formId === undefined || !FORM_ID.test(formId)) return true;
    try {
      const set = await this.redis.set(portalUserKeys(this.prefix, userId).form(formId), '1', 'PX', TTL_MS, 'NX');
      return set === 'OK';
    } catch {
      return true;
    }
  }
}
