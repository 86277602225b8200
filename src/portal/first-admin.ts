/** The first superadmin of an empty users table (printed once in the welcome text). */
import { isDuplicateKeyError, type Repositories } from '../db/index.js';
import { generatePassword, type PasswordHasher } from './password-hasher.js';

export interface FirstAdmin {
  email: string;
  /** Shown once in the welcome text; only its hash is stored. */
  password: string;
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
