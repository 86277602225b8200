/**
 * The `users` table: portal accounts. Lockout policy, password hashing and role checks
 * live in the portal's services; this only reads and writes rows.
 */
import { asc, count, eq, sql } from 'drizzle-orm';
import type { Database } from './database.js';
import { users } from './schema.js';
import type { NewUserRow, UserRow } from './schema.js';

export class UsersRepository {
  constructor(private readonly db: Database) {}

  /** Inserts a user and returns the id; a taken email raises ER_DUP_ENTRY. */
  async create(user: NewUserRow): Promise<number> {
    const [inserted] = await this.db.insert(users).values(user).$returningId();
    if (inserted === undefined) throw new Error('INSERT INTO users returned no id');
    return inserted.id;
  }

  /** Case-insensitive: the column's utf8mb4_unicode_ci collation compares that way. */
  async findByEmail(email: string): Promise<UserRow | undefined> {
    const [row] = await this.db.select().from(users).where(eq(users.email, email)).limit(1);
    return row;
  }

  async findById(id: number): Promise<UserRow | undefined> {
    const [row] = await this.db.select().from(users).where(eq(users.id, id)).limit(1);
    return row;
  }

  async count(): Promise<number> {
    const [row] = await this.db.select({ n: count() }).from(users);
    return row?.n ?? 0;
  }

  /** A successful login clears the failure counter and any lock. */
  async recordLogin(id: number, at: Date): Promise<void> {
    await this.db
      .update(users)
      .set({ last_login_at: at, failed_logins: 0, locked_until: null })
      .where(eq(users.id, id));
  }

  /** Counts a failed login; `lockUntil`, when the caller's policy says so, locks the account. */
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

  async list(filter: { domain?: string } = {}): Promise<UserRow[]> {
    return this.db
      .select()
      .from(users)
      .where(filter.domain === undefined ? undefined : eq(users.domain, filter.domain))
      .orderBy(asc(users.email));
  }
}
