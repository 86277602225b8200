/** The first superadmin of an empty users table (handed over once: the welcome text or a 0600 file). */
import { accessSync, constants, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDuplicateKeyError, type Repositories } from '../db/index.js';
import { BrokerError } from '../errors.js';
import { generatePassword, type PasswordHasher } from './password-hasher.js';

export interface FirstAdmin {
  email: string;
  /** Shown once in the welcome text (or written to `passwordFile`); only its hash is stored. */
  password: string;
  /** Set when stdout is not a terminal: the 0600 file that holds the password instead. */
  passwordFile?: string;
}

/** Beside the embedded services' data; the README names it. */
export const FIRST_ADMIN_PASSWORD_FILE = 'first-admin-password';

/**
 * Where the first password goes. On a terminal, the welcome text shows it. Otherwise stdout
 * is a pipe into a journal or a log collector that keeps it for good, readable by whoever
 * reads logs: it goes to `<data.dir>/first-admin-password` (0600, the broker's user only)
 * and the welcome text names the file. A stale file is removed first, and the new one is
 * created exclusively, so a symlink planted there is never followed.
 */
export function handOverFirstAdmin(admin: FirstAdmin, toTerminal: boolean, dataDir: string): FirstAdmin {
  if (toTerminal) return admin;
  prepareHandOver(false, dataDir);
  const passwordFile = join(dataDir, FIRST_ADMIN_PASSWORD_FILE);
  rmSync(passwordFile, { force: true });
  writeFileSync(passwordFile, `${admin.password}\n`, { mode: 0o600, flag: 'wx' });
  return { ...admin, passwordFile };
}

/**
 * Fails, naming data.dir, when the password file could not be written: called before the
 * account is made, since an account whose password was never handed over is one nobody
 * can sign in to, and the next start makes no other.
 */
export function prepareHandOver(toTerminal: boolean, dataDir: string): void {
  if (toTerminal) return;
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    accessSync(dataDir, constants.W_OK);
  } catch (error) {
    throw new BrokerError(
      'CONFIG_INVALID',
      `cannot write the first admin's password file into data.dir ${dataDir} (${(error as NodeJS.ErrnoException).code ?? String(error)}): make it a directory the broker's user can write`,
    );
  }
}

/**
 * When no portal account exists, creates the superadmin `portal.first_admin_email` with a
 * random password. Two brokers starting on one empty database race here: the one whose
 * INSERT loses sees ER_DUP_ENTRY and prints nothing.
 */
export async function ensureFirstAdmin(
  repositories: Pick<Repositories, 'users' | 'audit'>,
  hasher: PasswordHasher,
  email: string,
): Promise<FirstAdmin | undefined> {
  if ((await repositories.users.count()) > 0) return undefined;
  const password = generatePassword();
  try {
    const id = await repositories.users.create({
      email,
      password_hash: await hasher.hash(password),
      role: 'superadmin',
      domain: null,
      client_id: null,
    });
    await repositories.audit.record({
      actor: 'system',
      action: 'user.create',
      target_type: 'user',
      target_id: String(id),
      details: { email, role: 'superadmin', first_start: true },
    });
  } catch (error) {
    if (isDuplicateKeyError(error)) return undefined;
    throw error;
  }
  return { email, password };
}
