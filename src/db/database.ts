/**
 * Connection handling: create the database if missing, open a mysql2 pool wrapped in
 * drizzle, and tell "the database is down" apart from a bug.
 */
import { drizzle } from './drizzle.js';
import type { MySql2Database } from 'drizzle-orm/mysql2';
import { createConnection, createPool } from 'mysql2/promise';
import type { Pool, PoolOptions } from 'mysql2/promise';
import type { BrokerConfig } from '../config/config.js';
import { BrokerError } from '../errors.js';
import type { Logger } from '../logger.js';
import * as schema from './schema.js';
import { watchSilentConnections } from './silent-connections.js';

export type Schema = typeof schema;
/** The drizzle handle every repository takes. */
export type Database = MySql2Database<Schema> & { $client: Pool };

export interface DatabaseHandle {
  db: Database;
  pool: Pool;
  /** Ends the pool; waits for queries in flight. */
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  /** `mysql://user:pass@host:port/database` */
  url: string;
  /** @defaultValue 10 */
  poolSize?: number;
  /** How stale a pooled connection's database privileges may get (see `refreshPrivileges`). @defaultValue 10000 */
  privilegeRefreshMs?: number;
  /** `database.query_silence_ms`: a query this long without an answer is asked about (silent-connections.ts); 0 = never. @defaultValue 10000 */
  querySilenceMs?: number;
  /** Told each connection dropped for its silence (the broker logs it). */
  onSilentDropped?: (threadId: number | null, why: string) => void;
}

// Sent on every new connection: CURRENT_TIMESTAMP(3) defaults and NOW() then agree with
// drizzle, which reads and writes DATETIME as UTC whatever the server's zone is.
const SESSION_SETUP = "SET time_zone = '+00:00'";

/** Creates the database named in `url` if it does not exist (utf8mb4). */
export async function ensureDatabase(url: string): Promise<void> {
  const { serverUrl, database } = splitDatabaseUrl(url);
  let connection;
  try {
    connection = await createConnection({ uri: serverUrl, connectTimeout: 10_000 });
  } catch (error) {
    throw toStorageError(error);
  }
  try {
    await connection.query(
      `CREATE DATABASE IF NOT EXISTS ${quoteIdentifier(database)} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`,
    );
  } catch (error) {
    throw toStorageError(error);
  } finally {
    await connection.end().catch(() => undefined);
  }
}

/**
 * Opens a pool. Connections are made lazily, so a database that is down surfaces on the
 * first query (see `isConnectionError`), not here.
 */
export function openDatabase(options: OpenDatabaseOptions): DatabaseHandle {
  const poolOptions: PoolOptions = {
    uri: options.url,
    connectionLimit: options.poolSize ?? 10,
    charset: 'utf8mb4',
    // drizzle reads DATETIME through its own typeCast; the rest (raw queries) get Dates.
    dateStrings: false,
    timezone: 'Z',
    supportBigNumbers: true,
    connectTimeout: 10_000,
    enableKeepAlive: true,
  };
  const pool = createPool(poolOptions);
  // The promise pool forwards the core connection, whose query() takes a callback. A
  // failure here means the connection is dead; the caller's own query then reports it.
  pool.pool.on('connection', (connection) => {
    connection.query(SESSION_SETUP, () => undefined);
  });
  refreshPrivileges(pool, splitDatabaseUrl(options.url).database, options.privilegeRefreshMs ?? 10_000);
  const stopWatching = watchSilentConnections(pool, {
    url: options.url,
    silentMs: options.querySilenceMs ?? 10_000,
    ...(options.onSilentDropped ? { onDropped: options.onSilentDropped } : {}),
  });
  const db = drizzle(pool, { schema, mode: 'default' }) as Database;
  let closing: Promise<void> | undefined;
  return {
    db,
    pool,
    close: () => {
      stopWatching();
      return (closing ??= pool.end());
    },
  };
}

/** A pool of the broker's own: the configured size and query silence, each connection dropped for its silence logged. */
export function openBrokerDatabase(
  config: { database: Pick<BrokerConfig['database'], 'url' | 'pool_size' | 'query_silence_ms'> },
  logger: Pick<Logger, 'warn'>,
  poolSize = config.database.pool_size,
): DatabaseHandle {
  return openDatabase({
    url: config.database.url,
    poolSize,
    querySilenceMs: config.database.query_silence_ms,
    onSilentDropped: (thread_id, why) =>
      logger.warn({ thread_id, why }, 'MySQL connection dropped: its query had no answer'),
  });
}

/**
 * A GRANT or REVOKE on the database (`ON db.*`) reaches an open connection only at its next
 * `USE db` (MariaDB and MySQL alike). Pooled connections live as long as the broker: after a
 * grant was taken away and given back — an operator's mistake undone, a DBA's migration —
 * the connections made meanwhile kept the reduced privileges, and every INSERT was refused
 * until a restart. So a connection taken from the pool that has not renewed its view for
 * `everyMs` does a `USE` first: queued on the connection, it runs before the caller's query
 * and costs one round trip per connection per interval.
 */
function refreshPrivileges(pool: Pool, database: string, everyMs: number): void {
  if (database === '' || everyMs <= 0) return;
  const use = `USE ${quoteIdentifier(database)}`;
  const renewedAt = new WeakMap<object, number>();
  pool.pool.on('acquire', (connection) => {
    const now = Date.now();
    const last = renewedAt.get(connection);
    // A new connection has the privileges of now.
    if (last !== undefined && now - last < everyMs) return;
    renewedAt.set(connection, now);
    if (last !== undefined) connection.query(use, () => undefined);
  });
}

// Transport failures and server refusals: retrying later may succeed. Anything else
// (syntax, constraint, access denied) is a bug or a misconfiguration.
const CONNECTION_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR',
  'PROTOCOL_ENQUEUE_AFTER_QUIT',
  'ER_CON_COUNT_ERROR',
  'ER_TOO_MANY_USER_CONNECTIONS',
  'ER_SERVER_SHUTDOWN',
  'ER_CONNECTION_KILLED',
  'ER_NET_READ_ERROR',
  'ER_NET_READ_INTERRUPTED',
  'ER_NET_WRITE_INTERRUPTED',
  'ER_NET_ERROR_ON_WRITE',
  'ER_NET_PACKETS_OUT_OF_ORDER',
  'ER_CANT_CONNECT_TO_SERVER',
]);

/** The mysql2/Node error code of `error` or of any error in its `cause` chain. */
export function databaseErrorCode(error: unknown): string | undefined {
  // drizzle wraps driver errors in DrizzleQueryError with the original as `cause`.
  for (let current = error, depth = 0; current instanceof Error && depth < 5; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = current.cause;
  }
  return undefined;
}

/** True when `error` means the database cannot be reached, not that a query is wrong. */
export function isConnectionError(error: unknown): boolean {
  if (error instanceof BrokerError) return error.code === 'STORAGE_UNAVAILABLE';
  const code = databaseErrorCode(error);
  if (code !== undefined) return CONNECTION_ERROR_CODES.has(code);
  // mysql2 raises these without a code.
  return error instanceof Error && /Pool is closed|connection is in closed state/i.test(error.message);
}

/** True for a unique-key violation (e.g. a certificate fingerprint registered twice). */
export function isDuplicateKeyError(error: unknown): boolean {
  return databaseErrorCode(error) === 'ER_DUP_ENTRY';
}

/**
 * A connection failure becomes STORAGE_UNAVAILABLE; anything else is returned as is. The
 * message names only the code: DrizzleQueryError's own message carries the query params,
 * which include ciphertext and sender hashes.
 */
export function toStorageError(error: unknown): unknown {
  if (error instanceof BrokerError || !isConnectionError(error)) return error;
  const code = databaseErrorCode(error);
  return new BrokerError('STORAGE_UNAVAILABLE', undefined, code === undefined ? undefined : { cause: code });
}

function splitDatabaseUrl(url: string): { serverUrl: string; database: string } {
  const parsed = new URL(url);
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  if (database === '') throw new BrokerError('CONFIG_INVALID', 'database.url must name a database');
  parsed.pathname = '/';
  return { serverUrl: parsed.toString(), database };
}

function quoteIdentifier(name: string): string {
  return `\`${name.replace(/`/g, '``')}\``;
}

/**
 * Refusals for want of a privilege. Their message names only the command, the user and the
 * object ("INSERT command denied to user 'mb'@'10.0.0.5' for table `mb`.`messages`"), never
 * a query's values, and it is what the DBA needs to hear: which grant is missing.
 */
const PRIVILEGE_ERROR_CODES = new Set([
  'ER_ACCESS_DENIED_ERROR',
  'ER_DBACCESS_DENIED_ERROR',
  'ER_TABLEACCESS_DENIED_ERROR',
  'ER_COLUMNACCESS_DENIED_ERROR',
  'ER_PROCACCESS_DENIED_ERROR',
  'ER_SPECIFIC_ACCESS_DENIED_ERROR',
]);

/** The driver's own message of a database error (drizzle keeps the driver's error as `cause`). */
function sqlMessageOf(error: unknown): string | undefined {
  for (let current = error, depth = 0; current instanceof Error && depth < 5; depth++) {
    const message = (current as { sqlMessage?: unknown }).sqlMessage;
    if (typeof message === 'string') return message;
    current = current.cause;
  }
  return undefined;
}

/**
 * A log-safe description of any error: a database error is named by its code only (its
 * message would carry query parameters) — but a missing privilege with its message, which
 * names the grant to give back — anything else by its message.
 */
export function describeError(error: unknown): string {
  const code = databaseErrorCode(error);
  if (code !== undefined && PRIVILEGE_ERROR_CODES.has(code)) {
    const message = sqlMessageOf(error);
    return message ? `database error ${code}: ${message}` : `database error ${code}`;
  }
  if (code !== undefined) return `database error ${code}`;
  if (error instanceof Error && error.name === 'DrizzleQueryError') return 'database query failed';
  return error instanceof Error ? error.message : String(error);
}
