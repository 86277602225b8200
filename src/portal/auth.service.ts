/**
 * Sign-in, session checks, sign-out and password changes.
 *
 * Every failed sign-in answers the same (LOGIN_FAILED) and takes as long (an unknown
 * email still runs one scrypt), so the portal does not tell which emails have accounts.
 * `login_max_failures` wrong passwords in a row lock the account for `lockout_minutes`;
 * after that each further failure locks it again. Per address, LoginThrottle refuses
 * more attempts after `ip_max_failures` failures in 15 minutes (a window in Redis, shared
 * by every broker).
 *
 * Both limits count an attempt when it starts, before scrypt (≈ 300 ms) runs: deciding on
 * a row read before the hash let a burst of parallel attempts (#17) all be evaluated and
 * one of them sign in on a locked account. The account's attempt is reserved under the
 * row lock in MySQL, the address's in one Redis script, so both hold across every broker
 * sharing the database and the Redis.
 *
 * Accounts are per domain (#17), so an email may have several. With a domain typed, only
 * that account is tried. Without one, the password is checked against each account of
 * the email, each reserved like a single one (the lockout holds for every account
 * evaluated), in one scrypt (the email's accounts share a salt: PasswordHasher); it signs
 * in when exactly one usable account matches (the others count it as a wrong password),
 * and asks for the domain when several do. Every other outcome is LOGIN_FAILED, and the
 * address is counted once per attempt, so a visitor without the password learns nothing
 * of how many accounts the email has (docs/security.md, "Tenants' accounts").
 */
import type { AuditRepository } from '../db/audit.repository.js';
import type { UserRow } from '../db/schema.js';
import type { LoginReservation, UsersRepository } from '../db/users.repository.js';
import { BrokerError } from '../errors.js';
import type { LoginThrottle } from './login-throttle.js';
import type { PasswordHasher } from './password-hasher.js';
import type { SessionClaims, SessionTokens } from './session-tokens.js';

export interface LoginPolicy {
  maxFailures: number;
  lockoutMs: number;
}

export interface SignedIn {
  user: UserRow;
  token: string;
}

export interface Authenticated {
  user: UserRow;
  claims: SessionClaims;
}

/** The signed-in user behind a session token, or undefined (expired, forged, logged out, disabled). */
export async function authenticateSession(
  users: Pick<UsersRepository, 'findById'>,
  sessions: SessionTokens,
  token: string | undefined,
  now = Date.now(),
): Promise<Authenticated | undefined> {
  const claims = await sessions.verify(token, now);
  if (!claims) return undefined;
  const user = await users.findById(claims.userId);
  // token_version is what makes logout and password changes end every other session.
  if (!user || user.disabled || user.token_version !== claims.version) return undefined;
  return { user, claims };
}

export class AuthService {
  constructor(
    private readonly users: UsersRepository,
    private readonly audit: AuditRepository,
    private readonly hasher: PasswordHasher,
    private readonly sessions: SessionTokens,
    private readonly throttle: Pick<LoginThrottle, 'begin'>,
    private readonly policy: LoginPolicy,
  ) {}

  /**
   * Signs in the account of `email` in `domain` (null: the superadmin's), or with domain
   * undefined the one account of the email that the password opens.
   */
  async login(
    email: string,
    password: string,
    ip: string,
    domain?: string | null,
    now = Date.now(),
  ): Promise<SignedIn> {
    // Counted as a failure from here on, unless it signs in (see LoginThrottle). Once per
    // attempt, however many accounts it evaluates: counting each would let the address's
    // limit tell how many accounts an email has.
    const attempt = await this.throttle.begin(ip);
    if (!attempt) throw new BrokerError('LOGIN_THROTTLED');
    const candidates =
      email.length <= 254 && (domain?.length ?? 0) <= 253 ? await this.users.findAccounts(email.trim(), domain) : [];
    if (candidates.length === 0) {
      await this.hasher.verifyNothing(password);
      // The typed email is not recorded: people paste passwords into the wrong field.
      return this.fail(ip, [undefined], ['unknown_account']);
    }
    // Reserved before the hash runs: refused while locked, and the attempt that uses up the
    // allowance locks the account before its own password is known (a disabled account is
    // refused anyway and not counted).
    const reservations = await Promise.all(
      candidates.map((user) =>
        user.disabled
          ? undefined
          : this.users.reserveLoginAttempt(user.id, {
              maxFailures: this.policy.maxFailures,
              lockUntil: new Date(now + this.policy.lockoutMs),
              now: new Date(now),
            }),
      ),
    );
    // Verified even when locked or disabled, so those answers take as long as the others.
    const matches = await this.hasher.verifyEach(
      password,
      candidates.map((user) => user.password_hash),
    );
    // A match counts only where the attempt was allowed: a locked account's right password
    // must not tell itself apart, not even as "several match".
    const opened = candidates.map((_, i) => i).filter((i) => matches[i] && reservations[i]);
    const reasons = candidates.map((user, i) => failure(user, reservations[i]));
    if (opened.length === 0) return this.fail(ip, candidates, reasons);
    // The accounts it did not open had this password tried on them: it stays counted and is
    // audited as wrong, like any guess, since the outcome (one opened, or several) tells
    // whether it is theirs. A domain typed, or a tenant's sign-in link, spares them.
    const notOpened = candidates.map((_, i) => i).filter((i) => !opened.includes(i));
    const recordNotOpened = () =>
      this.recordFailures(
        ip,
        notOpened.map((i) => candidates[i]!),
        notOpened.map((i) => reasons[i]!),
      );
    if (opened.length > 1) {
      // Their password was given right: no failure for them, as a sign-in would clear it.
      await Promise.all(opened.map((i) => this.users.releaseLoginAttempt(candidates[i]!.id, reservations[i]!)));
      await recordNotOpened();
      // Recorded without a domain, where only superadmins read it: the tenants' admins
      // must not learn from their audit log that the email has accounts elsewhere.
      await this.audit.record({
        actor: 'anonymous',
        action: 'auth.login_ambiguous',
        target_type: 'user',
        target_id: null,
        domain: null,
        ip,
        details: { accounts: opened.map((i) => candidates[i]!.id) },
      });
      throw new BrokerError('LOGIN_DOMAIN_NEEDED');
    }
    const index = opened[0]!;
    const user = candidates[index]!;
    // Refused when the account was reset and locked again by other attempts while this one hashed.
    if (!(await this.users.recordLogin(user.id, new Date(now), reservations[index])))
      return this.fail(ip, candidates, reasons.with(index, 'locked'));
    await recordNotOpened();
    await attempt.succeeded();
    // Hashes made under a lower cost are upgraded while the password is at hand (this
    // bumps token_version), keeping the salt the email's accounts share.
    if (this.hasher.needsRehash(user.password_hash))
      await this.users.setPassword(user.id, await this.hasher.hash(password, user.password_hash));
    const fresh = (await this.users.findById(user.id)) ?? user;
    await this.audit.record({
      actor: `user:${user.id}`,
      action: 'auth.login',
      target_type: 'user',
      target_id: String(user.id),
      domain: user.domain,
      ip,
    });
    const token = await this.sessions.issue(
      { userId: fresh.id, version: fresh.token_version, role: fresh.role, authTime: Math.floor(now / 1000) },
      now,
    );
    return { user: fresh, token };
  }

  /** Wrong passwords in a row that lock an account (the sign-in page says how many). */
  get maxFailures(): number {
    return this.policy.maxFailures;
  }

  authenticate(token: string | undefined, now = Date.now()): Promise<Authenticated | undefined> {
    return authenticateSession(this.users, this.sessions, token, now);
  }

  /** A token with a fresh idle window for a session that is still valid. */
  renew(auth: Authenticated, now = Date.now()): Promise<string> {
    const { user, claims } = auth;
    return this.sessions.issue(
      { userId: user.id, version: user.token_version, role: user.role, authTime: claims.authTime },
      now,
    );
  }

  /** Ends every session of the user: the next request with any of their tokens is refused. */
  async logout(user: UserRow, ip: string): Promise<void> {
    await this.users.bumpTokenVersion(user.id);
    await this.audit.record({
      actor: `user:${user.id}`,
      action: 'auth.logout',
      target_type: 'user',
      target_id: String(user.id),
      domain: user.domain,
      ip,
    });
  }

  /**
   * Changes the user's own password. Other sessions end (token_version moves); the
   * returned token keeps this one going.
   *
   * The current password is checked like a sign-in: a stolen session must not become an
   * unlimited password oracle (the password also opens the email's accounts in other
   * domains). The attempt is counted against the address (LoginThrottle) and reserved
   * against the account before scrypt runs, exactly as `login` does; a wrong one is
   * audited (`user.password_change_failed`), and the one that uses up the allowance locks
   * the account and ends its sessions, this one included (ACCOUNT_LOCKED).
   */
  async changePassword(
    auth: Authenticated,
    current: string,
    next: string,
    ip: string,
    now = Date.now(),
  ): Promise<string> {
    const attempt = await this.throttle.begin(ip);
    if (!attempt) {
      await this.recordChangeFailure(auth.user, ip, 'throttled');
      throw new BrokerError('LOGIN_THROTTLED');
    }
    const reservation = await this.users.reserveLoginAttempt(auth.user.id, {
      maxFailures: this.policy.maxFailures,
      lockUntil: new Date(now + this.policy.lockoutMs),
      now: new Date(now),
    });
    if (!reservation) {
      // Locked already (failed sign-ins elsewhere): nothing is tried, the session goes on.
      await this.recordChangeFailure(auth.user, ip, 'locked');
      throw new BrokerError('FORM_INVALID', 'The account is locked', {
        current_password: 'The account is locked for a while after wrong passwords; try again later',
      });
    }
    if (!(await this.hasher.verify(current, auth.user.password_hash))) {
      if (reservation.lockedUntil) {
        await this.recordChangeFailure(auth.user, ip, 'wrong_password_locked');
        await this.users.bumpTokenVersion(auth.user.id);
        throw new BrokerError('ACCOUNT_LOCKED');
      }
      await this.recordChangeFailure(auth.user, ip, 'wrong_password');
      throw new BrokerError('FORM_INVALID', 'The current password is not right', {
        current_password: 'The current password is not right',
      });
    }
    // Right: this attempt is no failure (its count, and a lock it set, are given back).
    await this.users.releaseLoginAttempt(auth.user.id, reservation);
    await attempt.succeeded();
    await this.users.setPassword(auth.user.id, await this.hasher.hash(next, auth.user.password_hash));
    const user = (await this.users.findById(auth.user.id))!;
    await this.audit.record({
      actor: `user:${user.id}`,
      action: 'user.password_change',
      target_type: 'user',
      target_id: String(user.id),
      domain: user.domain,
      ip,
    });
    return this.renew({ user, claims: auth.claims });
  }

  private async recordChangeFailure(user: UserRow, ip: string, reason: string): Promise<void> {
    await this.audit.record({
      actor: `user:${user.id}`,
      action: 'user.password_change_failed',
      target_type: 'user',
      target_id: String(user.id),
      domain: user.domain,
      ip,
      details: { reason },
    });
  }

  /** The address's count already holds this attempt (begin). */
  private async fail(
    ip: string,
    accounts: readonly (UserRow | undefined)[],
    reasons: readonly string[],
  ): Promise<never> {
    await this.recordFailures(ip, accounts, reasons);
    throw new BrokerError('LOGIN_FAILED');
  }

  /**
   * One audit entry per account evaluated, in its domain: each had a wrong password tried
   * (or was locked or disabled); undefined for an email without accounts.
   */
  private async recordFailures(
    ip: string,
    accounts: readonly (UserRow | undefined)[],
    reasons: readonly string[],
  ): Promise<void> {
    for (const [i, user] of accounts.entries()) {
      await this.audit.record({
        actor: 'anonymous',
        action: 'auth.login_failed',
        target_type: 'user',
        target_id: user ? String(user.id) : null,
        domain: user?.domain ?? null,
        ip,
        details: { reason: reasons[i] },
      });
    }
  }
}

/** Why an account evaluated by a failed attempt did not open (the audit entry's reason). */
function failure(user: UserRow, reservation: LoginReservation | undefined): string {
  if (user.disabled) return 'disabled';
  if (!reservation) return 'locked';
  return reservation.lockedUntil ? 'wrong_password_locked' : 'wrong_password';
}
