/**
 * The broker's MySQL/MariaDB schema (DESIGN §3). `npx drizzle-kit generate` turns it into
 * SQL under drizzle/, which `migrateDatabase` applies at start.
 *
 * Property names are the column names (snake_case) so rows read the same in SQL, in logs
 * and in code. Every datetime is DATETIME(3) in UTC: the pool pins the session time zone
 * to +00:00 and drizzle's `mode: 'date'` reads and writes UTC.
 */
import {
  sql,
  bigint,
  boolean,
  char,
  datetime,
  foreignKey,
  index,
  int,
  mysqlEnum,
  mysqlTable,
  unique,
  varchar,
} from './drizzle.js';
import { blobBuffer, jsonValue, varbinaryBuffer } from './column-types.js';

const createdAt = () => datetime('created_at', { mode: 'date', fsp: 3 }).notNull().default(sql`CURRENT_TIMESTAMP(3)`);
const at = (name: string) => datetime(name, { mode: 'date', fsp: 3 });

export const MESSAGE_STATUSES = ['queued', 'delivered', 'failed'] as const;
export const CLIENT_STATUSES = ['active', 'disabled'] as const;
export const CERTIFICATE_STATUSES = ['active', 'revoked', 'expired'] as const;
export const USER_ROLES = ['user', 'admin', 'superadmin'] as const;

export const messages = mysqlTable(
  'messages',
  {
    id: bigint('id', { mode: 'number', unsigned: true }).autoincrement().primaryKey(),
    message_id: char('message_id', { length: 36 }).notNull().unique(),
    client_id: int('client_id', { unsigned: true }).notNull(),
    domain: varchar('domain', { length: 253 }).notNull(),
    // HMAC-SHA256 (hex) under the pepper named by pepper_id: lookups without plaintext.
    sender_hash: char('sender_hash', { length: 64 }).notNull(),
    pepper_id: varchar('pepper_id', { length: 32 }).notNull(),
    sender_masked: varchar('sender_masked', { length: 24 }).notNull(),
    // The number's own v1 envelope (rows of before envelope v2); empty since v2, which
    // seals number and body together in body_enc (src/crypto/envelope.ts).
    sender_enc: varbinaryBuffer('sender_enc', { length: 512 }).notNull(),
    body_enc: blobBuffer('body_enc').notNull(),
    // Data key of both envelopes. Not indexed, like pepper_id: see the indexes below.
    key_id: varchar('key_id', { length: 32 }).notNull(),
    metadata: jsonValue('metadata').$type<Record<string, unknown>>(),
    status: mysqlEnum('status', MESSAGE_STATUSES).notNull().default('queued'),
    attempt_count: int('attempt_count', { unsigned: true }).notNull().default(0),
    last_error: varchar('last_error', { length: 512 }),
    created_at: createdAt(),
    queued_at: at('queued_at').notNull(),
    delivered_at: at('delivered_at'),
    next_attempt_at: at('next_attempt_at'),
    // The target and route chosen at submit (src/routing/route-choice.ts); rows of before
    // routing have the target `default` (their domain's single target) and no route.
    target: varchar('target', { length: 32 }).notNull().default('default'),
    route: varchar('route', { length: 32 }),
    // What the route matched (a header value, a prefix, a metadata value): an amqp
    // routing key's {match}; NULL for a message queued before routing.
    route_match: varchar('route_match', { length: 255 }),
    // When a dead letter was last put back (redrive or retry): its age (max_age_ms) counts
    // from then, since an operator chose to have it attempted again.
    requeued_at: at('requeued_at'),
  },
  // Every row of a batch insert updates each of these B-trees, so each one must earn its
  // place (bench/explain-messages.ts prints the plan of every read). InnoDB ends every
  // secondary index with the primary key `id`, and a tail `id` makes keyset pagination
  // on (created_at, id) stable when created_at ties. The unique key on message_id serves
  // the insert's idempotency, the status lookup, the delivery's reads by message id and
  // every update of outcomes.
  (t) => [
    // A user's pages (portal, newest first, date range); a client's erasure (mb purge).
    index('messages_client_created_idx').on(t.client_id, t.created_at, t.id),
    // An admin's pages of a domain; the retention purge (a domain's rows older than a
    // cutoff, oldest first); the operations page's counts since an hour / a day.
    index('messages_domain_created_idx').on(t.domain, t.created_at, t.id),
    // An admin's pages filtered by status (a few failed among millions delivered);
    // restore's queued webhook messages of a domain.
    index('messages_status_domain_created_idx').on(t.status, t.domain, t.created_at),
    // A sender's messages newest first (portal filter by number): a range, not a sort of them all.
    index('messages_sender_created_idx').on(t.sender_hash, t.created_at, t.id),
    // No index on key_id (dropped in 0002) nor pepper_id: only key rotation and `mb keys`
    // look rows up by them. A rotation pass reads the table in id order once per old id
    // (most rows are under the old key anyway), and the counts of `mb keys status` scan it.
  ],
);

export const clients = mysqlTable(
  'clients',
  {
    id: int('id', { unsigned: true }).autoincrement().primaryKey(),
    name: varchar('name', { length: 64 }).notNull(),
    domain: varchar('domain', { length: 253 }).notNull(),
    status: mysqlEnum('status', CLIENT_STATUSES).notNull().default('active'),
    /** Where its messages' status events are POSTed (HTTPS); null = the domain's default, if any. */
    status_callback_url: varchar('status_callback_url', { length: 2048 }),
    created_at: createdAt(),
  },
  (t) => [unique('clients_name_domain_uq').on(t.name, t.domain)],
);

export const certificates = mysqlTable(
  'certificates',
  {
    id: int('id', { unsigned: true }).autoincrement().primaryKey(),
    serial: varchar('serial', { length: 64 }).notNull().unique(),
    client_id: int('client_id', { unsigned: true }).notNull(),
    fingerprint: char('fingerprint', { length: 64 }).notNull().unique(),
    subject_cn: varchar('subject_cn', { length: 320 }).notNull(),
    not_before: at('not_before').notNull(),
    not_after: at('not_after').notNull(),
    status: mysqlEnum('status', CERTIFICATE_STATUSES).notNull().default('active'),
    revoked_at: at('revoked_at'),
    reason: varchar('reason', { length: 64 }),
    created_at: createdAt(),
  },
  (t) => [
    // A certificate must name a real client: the identity lookup joins on it.
    foreignKey({ name: 'certificates_client_fk', columns: [t.client_id], foreignColumns: [clients.id] }),
    index('certificates_client_idx').on(t.client_id),
    index('certificates_status_not_after_idx').on(t.status, t.not_after),
  ],
);

/**
 * Accounts are per tenant (#17): an email is unique within a domain, and among the
 * superadmins (domain NULL), not across the installation, so creating an account never
 * tells a domain admin that the email has one elsewhere. MySQL's UNIQUE ignores NULLs,
 * hence the key on `domain_key` (the domain, or '' for superadmins) rather than `domain`.
 */
export const users = mysqlTable(
  'users',
  {
    id: int('id', { unsigned: true }).autoincrement().primaryKey(),
    email: varchar('email', { length: 254 }).notNull(),
    password_hash: varchar('password_hash', { length: 255 }).notNull(),
    role: mysqlEnum('role', USER_ROLES).notNull().default('user'),
    // What the user may see; NULL for superadmins, who see every client and domain.
    client_id: int('client_id', { unsigned: true }),
    domain: varchar('domain', { length: 253 }),
    // Carried in session tokens; bumping it revokes every session the user holds.
    token_version: int('token_version', { unsigned: true }).notNull().default(0),
    failed_logins: int('failed_logins', { unsigned: true }).notNull().default(0),
    locked_until: at('locked_until'),
    last_login_at: at('last_login_at'),
    disabled: boolean('disabled').notNull().default(false),
    created_at: createdAt(),
    // DATETIME has no ON UPDATE in drizzle's mysql-core; drizzle sets it on every update.
    updated_at: at('updated_at')
      .notNull()
      .default(sql`CURRENT_TIMESTAMP(3)`)
      .$onUpdate(() => new Date()),
    // Computed by the database, never written: '' stands for "no domain" (a superadmin).
    domain_key: varchar('domain_key', { length: 253 }).generatedAlwaysAs(sql`coalesce(\`domain\`, '')`, {
      mode: 'stored',
    }),
  },
  (t) => [
    // Sign-in looks accounts up by email first (every tenant's, or one domain's).
    unique('users_email_domain_uq').on(t.email, t.domain_key),
  ],
);

export const auditLog = mysqlTable(
  'audit_log',
  {
    id: bigint('id', { mode: 'number', unsigned: true }).autoincrement().primaryKey(),
    at: at('at').notNull().default(sql`CURRENT_TIMESTAMP(3)`),
    actor: varchar('actor', { length: 255 }).notNull(),
    action: varchar('action', { length: 64 }).notNull(),
    target_type: varchar('target_type', { length: 32 }).notNull(),
    target_id: varchar('target_id', { length: 128 }),
    domain: varchar('domain', { length: 253 }),
    ip: varchar('ip', { length: 64 }),
    details: jsonValue('details').$type<Record<string, unknown>>(),
  },
  (t) => [index('audit_log_at_idx').on(t.at), index('audit_log_domain_at_idx').on(t.domain, t.at)],
);

/**
 * What every broker and `mb` must hold under a given id: a fingerprint of each data key
 * and pepper (an HMAC of a fixed label under the secret, never the secret) and of the CA
 * certificate, recorded by whoever first uses it. A second host started with its own
 * freshly generated `k1` finds a different fingerprint here and refuses to start, instead
 * of sealing rows the others cannot open.
 */
export const secretFingerprints = mysqlTable(
  'secret_fingerprints',
  {
    kind: mysqlEnum('kind', ['key', 'pepper', 'ca']).notNull(),
    secret_id: varchar('secret_id', { length: 64 }).notNull(),
    fingerprint: char('fingerprint', { length: 64 }).notNull(),
    created_at: createdAt(),
  },
  (t) => [unique('secret_fingerprints_kind_id_unique').on(t.kind, t.secret_id)],
);

export type MessageStatus = (typeof MESSAGE_STATUSES)[number];
export type ClientStatus = (typeof CLIENT_STATUSES)[number];
export type CertificateStatus = (typeof CERTIFICATE_STATUSES)[number];
export type UserRole = (typeof USER_ROLES)[number];

export type MessageRow = typeof messages.$inferSelect;
export type NewMessageRow = typeof messages.$inferInsert;
export type ClientRow = typeof clients.$inferSelect;
export type NewClientRow = typeof clients.$inferInsert;
export type CertificateRow = typeof certificates.$inferSelect;
export type NewCertificateRow = typeof certificates.$inferInsert;
export type UserRow = typeof users.$inferSelect;
export type NewUserRow = typeof users.$inferInsert;
export type AuditRow = typeof auditLog.$inferSelect;
export type NewAuditRow = typeof auditLog.$inferInsert;
