/** The storage layer's public face: open a database, migrate it, get the repositories. */
import { AuditRepository } from './audit.repository.js';
import { CertificatesRepository } from './certificates.repository.js';
import { ClientsRepository } from './clients.repository.js';
import type { Database } from './database.js';
import { MessagesRepository } from './messages.repository.js';
import { UsersRepository } from './users.repository.js';

export interface Repositories {
  messages: MessagesRepository;
  clients: ClientsRepository;
  certificates: CertificatesRepository;
  users: UsersRepository;
  audit: AuditRepository;
}

export function createRepositories(db: Database): Repositories {
  return {
    messages: new MessagesRepository(db),
    clients: new ClientsRepository(db),
    certificates: new CertificatesRepository(db),
    users: new UsersRepository(db),
    audit: new AuditRepository(db),
  };
}

export {
  databaseErrorCode,
  ensureDatabase,
  isConnectionError,
  isDuplicateKeyError,
  openDatabase,
  toStorageError,
} from './database.js';
export type { Database, DatabaseHandle, OpenDatabaseOptions } from './database.js';
export { MIGRATIONS_FOLDER, migrateDatabase } from './migrate.js';
export { AuditRepository, CertificatesRepository, ClientsRepository, MessagesRepository, UsersRepository };
export type { AuditEntry, AuditListOptions } from './audit.repository.js';
export type { CertificateIdentity, CertificateWithClient, RevokedCertificate } from './certificates.repository.js';
export type { ClientKey } from './clients.repository.js';
export type { AttemptFailure, StatusCounts } from './messages.repository.js';
export * from './schema.js';
