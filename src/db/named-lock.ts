/**
 * A MySQL/MariaDB named lock (`GET_LOCK`) around a piece of work, for writers that live in
 * different processes but share the database — the CA actor and the `mb` CLI both
 * rebuild the CRL, and the one that read the revocations last must also write last.
 *
 * Lock names are global to the server, not to a database, so the database name is part
 * of the name: two brokers (or two test runs) on one server do not serialise each other.
 */
import type { PoolConnection, RowDataPacket } from 'mysql2/promise';
import { BrokerError } from '../errors.js';
import { toStorageError } from './database.js';
import type { Database } from './database.js';

/** `work` gets the connection that holds the lock, for work that must run in that session. */
export async function withNamedLock<T>(
  db: Database,
  name: string,
  timeoutSeconds: number,
  work: (connection: PoolConnection) => Promise<T>,
): Promise<T> {
  let connection: PoolConnection;
  try {
    connection = await db.$client.getConnection();
  } catch (error) {
    throw toStorageError(error);
  }
  try {
    // The lock belongs to this session: take and release it on the same connection. (A
    // session may also take the same lock twice, so sharing one would serialise nothing.)
    const [rows] = await connection
      .query<RowDataPacket[]>("SELECT GET_LOCK(CONCAT(?, '.', COALESCE(DATABASE(), '')), ?) AS acquired", [
        name,
        timeoutSeconds,
      ])
      .catch((error: unknown) => Promise.reject(toStorageError(error)));
    if (rows[0]?.['acquired'] !== 1) {
      throw new BrokerError(
        'STORAGE_UNAVAILABLE',
        `The ${name} lock was held by someone else for more than ${timeoutSeconds} s`,
      );
    }
    try {
      return await work(connection);
    } finally {
      await connection
        .query("SELECT RELEASE_LOCK(CONCAT(?, '.', COALESCE(DATABASE(), '')))", [name])
        .catch(() => undefined);
    }
  } finally {
    connection.release();
  }
}
