/**
 * The `audit_log` table: append-only record of who did what to what, when and from where
 * (logins, certificate and user changes, admins viewing decrypted messages). Rows are
 * never updated or deleted from the broker.
 */
import { and, desc, eq, lt } from './drizzle.js';
import type { Database } from './database.js';
import { auditLog } from './schema.js';
import type { AuditRow } from './schema.js';

export interface AuditEntry {
  /** 'cli', 'system', 'user:<id>' */
  actor: string;
  action: string;
  target_type: string;
  target_id?: string | null;
  domain?: string | null;
  ip?: string | null;
  details?: Record<string, unknown> | null;
}

export interface AuditListOptions {
  domain?: string;
  limit: number;
  /** Keyset pagination: only entries older than this id (ids grow with time). */
  beforeId?: number;
}

export class AuditRepository {
  constructor(private readonly db: Database) {}

  /** Appends an entry and returns its id. */
  async record(entry: AuditEntry): Promise<number> {
    const [inserted] = await this.db.insert(auditLog).values(entry).$returningId();
    if (inserted === undefined) throw new Error('INSERT INTO audit_log returned no id');
    return inserted.id;
  }

  /** Newest first. */
  async list(options: AuditListOptions): Promise<AuditRow[]> {
    return this.db
      .select()
      .from(auditLog)
      .where(
        and(
          options.domain === undefined ? undefined : eq(auditLog.domain, options.domain),
          options.beforeId === undefined ? undefined : lt(auditLog.id, options.beforeId),
        ),
      )
      .orderBy(desc(auditLog.id))
      .limit(options.limit);
  }
}
