/**
 * The `users` table: portal accounts. Lockout policy, password hashing and role checks
 * live in the portal's services; this only reads and writes rows.
 */
import { and, asc, count, eq, gte, isNull, lte, or, sql } from './drizzle.js';
import type { Database } from './database.js';
import { users } from './schema.js';
import type { NewUserRow, UserRow } from './schema.js';

/** A sign-in attempt counted against an account: the counter it left, and the lock it set. */
export interface LoginReservation {
  failedLogins: number;
  lockedUntil: Date | null;
}

export class UsersRepository {
  constructor(private readonly db: Database) {}

  /** Inserts a user and returns the id; a taken email raises ER_DUP_ENTRY. */
  async create(user: NewUserRow): Promise<number> {
    const [inserted] = await this.db.insert(users).values(user).$returningId();
    if (inserted === undefined) throw new Error('INSERT INTO users returned no id');
    return inserted.id;
  }

  /**
   * The accounts of an email (#17: one per domain, one among superadmins): in every domain
   * (`domain` undefined), among superadmins (null) or in one domain. Case-insensitive: the
   * columns' utf8mb4_unicode_ci collation compares that way.
   */
  async findAccounts(email: string, domain?: string | null): Promise<UserRow[]> {
    return this.db
      .select()
      .from(users)
      .where(
        and(
          eq(users.email, email),
          domain === undefined ? undefined : domain === null ? isNull(users.domain) : eq(users.domain, domain),
        ),
      )
      .orderBy(asc(users.id));
  }

  /** The one account of an email in a domain, or among superadmins (null). */
  async findAccount(email: string, domain: string | null): Promise<UserRow | undefined> {
    return (await this.findAccounts(email, domain))[0];
  }

  async findById(id: number): Promise<UserRow | undefined> {
    const [row] = await this.db.select().from(users).where(eq(users.id, id)).limit(1);
    return row;
  }

  async count(): Promise<number> {
    const [row] = await this.db.select({ n: count() }).from(users);
    return row?.n ?? 0;
  }

  /**
   * Counts a sign-in attempt as a failure before its password is checked, under the
   * row's lock, so parallel attempts (on any broker sharing the database) each see the
   * ones before them. Refused (undefined) while the account is locked; the attempt that
   * reaches `maxFailures` locks it until `lockUntil` itself. A success is settled with
   * `recordLogin`, a failure needs nothing more; an attempt cut short stays counted.
   */
  async reserveLoginAttempt(
    id: number,
    policy: { maxFailures: number; lockUntil: Date; now: Date },
  ): Promise<LoginReservation | undefined> {
    return this.db.transaction(async (tx) => {
      const [row] = await tx
        .select({ failed_logins: users.failed_logins, locked_until: users.locked_until })
        .from(users)
        .where(eq(users.id, id))
        .for('update');
      if (!row || (row.locked_until !== null && row.locked_until > policy.now)) return undefined;
      const failedLogins = row.failed_logins + 1;
      const lockedUntil = failedLogins >= policy.maxFailures ? policy.lockUntil : null;
      await tx
        .update(users)
        .set({ failed_logins: failedLogins, ...(lockedUntil ? { locked_until: lockedUntil } : {}) })
        .where(eq(users.id, id));
      return { failedLogins, lockedUntil };
    });
  }

  /**
   * Gives back a reserved attempt whose password was right for this account but signed
   * nobody in (it opened several accounts of the email: the domain is asked for): its
   * count, and the lock if this attempt set it. Skipped when the counter was reset since
   * (a sign-in or an unlock), like `recordLogin`.
   */
  async releaseLoginAttempt(id: number, reservation: LoginReservation): Promise<void> {
    await this.db.transaction(async (tx) => {
      const [row] = await tx
        .select({ failed_logins: users.failed_logins, locked_until: users.locked_until })
        .from(users)
        .where(eq(users.id, id))
        .for('update');
      if (!row || row.failed_logins < reservation.failedLogins) return;
      // Nobody reserves while locked, so an unchanged counter and lock are this attempt's.
      const lockedByThis =
        reservation.lockedUntil !== null &&
        row.failed_logins === reservation.failedLogins &&
        row.locked_until?.getTime() === reservation.lockedUntil.getTime();
      await tx
        .update(users)
        .set({ failed_logins: row.failed_logins - 1, ...(lockedByThis ? { locked_until: null } : {}) })
        .where(eq(users.id, id));
    });
  }

  /**
   * Settles a reserved attempt whose password matched: clears the counter and the lock,
   * unless the account is locked by attempts this one is not counted in (false). Every
   * attempt is counted as a failure when reserved, so a lock set while this attempt was
   * hashing counts it: without it the allowance was not used up, and it may sign in. The
   * counter only falls below this attempt's number through a reset (a sign-in or an
   * unlock), after which a lock is made of other attempts alone.
   */
  async recordLogin(id: number, at: Date, reservation?: LoginReservation): Promise<boolean> {
    const [result] = await this.db
      .update(users)
      .set({ last_login_at: at, failed_logins: 0, locked_until: null })
      .where(
        and(
          eq(users.id, id),
          or(
            isNull(users.locked_until),
            lte(users.locked_until, at),
            reservation === undefined ? undefined : gte(users.failed_logins, reservation.failedLogins),
          ),
        ),
      );
    return result.affectedRows > 0;
  }

  /** Counts a failed login after the fact; `lockUntil` locks the account (sign-in reserves instead). */
  async recordFailedLogin(id: number, lockUntil?: Date): Promise<void> {
    await this.db
      .update(users)
      .set({
        failed_logins: sql`${users.failed_logins} + 1`,
        ...(lockUntil === undefined ? {} : { locked_until: lockUntil }),
      })
      .where(eq(users.id, id));
  }

  /** Revokes every session the user holds; returns the new version (undefined: no such user). */
  async bumpTokenVersion(id: number): Promise<number | undefined> {
    await this.db
      .update(users)
      .set({ token_version: sql`${users.token_version} + 1` })
      .where(eq(users.id, id));
    return (await this.findById(id))?.token_version;
  }

  /**
   * Replaces the password hash and, in the same UPDATE, bumps token_version: sessions
   * opened with the old password must not outlive it, whoever calls this.
   */
  async setPassword(id: number, passwordHash: string): Promise<void> {
    await this.db
      .update(users)
      .set({ password_hash: passwordHash, token_version: sql`${users.token_version} + 1` })
      .where(eq(users.id, id));
  }

  /** Disabling also bumps token_version so open sessions end at their next check. */
  async setDisabled(id: number, disabled: boolean): Promise<void> {
    await this.db
      .update(users)
      .set({ disabled, ...(disabled ? { token_version: sql`${users.token_version} + 1` } : {}) })
      .where(eq(users.id, id));
  }

  /** Role and what the user may see (portal admin). Sessions read the role from the row, so no token bump is needed. */
  async setAccess(id: number, access: Pick<NewUserRow, 'role' | 'domain' | 'client_id'>): Promise<void> {
    await this.db.update(users).set(access).where(eq(users.id, id));
  }

  /** Clears a lockout and the failure counter. */
  async unlock(id: number): Promise<void> {
    await this.db.update(users).set({ failed_logins: 0, locked_until: null }).where(eq(users.id, id));
  }

  /** Every account, or a domain's; `domain: null` the superadmins'. */
  async list(filter: { domain?: string | null } = {}): Promise<UserRow[]> {
    const { domain } = filter;
    return this.db
      .select()
      .from(users)
      .where(domain === undefined ? undefined : domain === null ? isNull(users.domain) : eq(users.domain, domain))
      .orderBy(asc(users.email));
  }
}
