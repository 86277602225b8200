/**
 * What a running `mb user` command works with: the database (created and migrated if
 * needed, like the CA commands) and the portal's account rules. Loaded only when a
 * command runs, so `mb user --help` stays fast (see cli-support.ts).
 */
import { userInfo } from 'node:os';
import type { BrokerConfig } from '../config/config.js';
import { LiveConfig } from '../config/live-config.js';
import { createRepositories, ensureDatabase, migrateDatabase, openDatabase, type Repositories } from '../db/index.js';
import { PasswordHasher } from '../portal/password-hasher.js';
import { UserAdmin, type AuditContext } from '../portal/user-admin.service.js';

export interface UserContext {
  config: Readonly<BrokerConfig>;
  repositories: Repositories;
  users: UserAdmin;
  /** The audit log names `cli:<os user>`, like the CA commands. */
  by: AuditContext;
  close(): Promise<void>;
}

export async function openUserContext(config: Readonly<BrokerConfig>): Promise<UserContext> {
  await ensureDatabase(config.database.url);
  const database = openDatabase({ url: config.database.url, poolSize: 2 });
  try {
    await migrateDatabase(database.db);
  } catch (error) {
    await database.close();
    throw error;
  }
  const repositories = createRepositories(database.db);
  const hasher = new PasswordHasher(config.portal.scrypt_log_n);
  return {
    config,
    repositories,
    users: new UserAdmin(repositories.users, repositories.clients, repositories.audit, hasher, new LiveConfig(config)),
    by: { actor: `cli:${osUser()}`, ip: null },
    close: () => database.close(),
  };
}

function osUser(): string {
  try {
    return userInfo().username;
  } catch {
    return String(process.getuid?.() ?? 'unknown');
  }
}
