/**
 * Managing portal accounts, shared by the admin pages and `mb user`: the rules for who
 * may hold which role and see what, password hashing, and the audit entry of each change.
 * Rule breaches are FORM_INVALID with the field they concern in `details`.
 *
 * - user: needs a domain and one of its clients (what they see).
 * - admin: needs a domain; no client.
 * - superadmin: no domain, no client (sees every domain).
 *
 * Accounts are per tenant (#17): an email has at most one account per domain and one
 * among the superadmins. A domain admin creating an account whose email has one in another
 * domain gets a new, separate account in theirs, answered like any other creation, so
 * there is nothing to infer; a duplicate in their own domain is told plainly (they see it
 * in their list anyway).
 */
import type { LiveConfig } from '../config/live-config.js';
import type { AuditRepository } from '../db/audit.repository.js';
import type { ClientsRepository } from '../db/clients.repository.js';
import { isDuplicateKeyError } from '../db/database.js';
import type { UserRole, UserRow } from '../db/schema.js';
import type { UsersRepository } from '../db/users.repository.js';
import { BrokerError } from '../errors.js';
import { emailProblem, type FormErrors } from './form-fields.js';
import { generatePassword, passwordProblem, type PasswordHasher } from './password-hasher.js';

export interface AccessInput {
  role: UserRole;
  domain?: string | null;
  /** Client name within the domain (role user). */
  clientName?: string | null;
}

export interface NewUserInput extends AccessInput {
  email: string;
  /** Empty or absent: a random one is generated and returned once. */
  password?: string;
}

export interface AuditContext {
  /** `user:<id>` or `cli` */
  actor: string;
  ip: string | null;
  /** The one domain an admin acting here is confined to; absent for a superadmin or the CLI (every domain). */
  domain?: string;
}

export class UserAdmin {
  constructor(
    private readonly users: UsersRepository,
    private readonly clients: ClientsRepository,
    private readonly audit: AuditRepository,
    private readonly hasher: PasswordHasher,
    /** Read at every check: a reload may add or remove domains. */
    private readonly config: LiveConfig,
  ) {}

  async create(
    input: NewUserInput,
    by: AuditContext,
  ): Promise<{ user: UserRow; password: string; generated: boolean }> {
    const errors: FormErrors = {};
    const email = input.email.trim();
    const emailError = emailProblem(email);
    if (emailError) errors['email'] = emailError;
    const generated = !input.password;
    const password = input.password || generatePassword();
    const weak = generated ? undefined : passwordProblem(password);
    if (weak) errors['password'] = weak;
    const access = await this.resolveAccess(input, errors);
    if (Object.keys(errors).length > 0 || !access) throw formError(errors);
    // The email's accounts share a salt, so a sign-in without a domain hashes once however
    // many there are (PasswordHasher); the lookup happens whether or not there are any.
    const [sibling] = await this.users.findAccounts(email);
    let id: number;
    try {
      id = await this.users.create({
        email,
        password_hash: await this.hasher.hash(password, sibling?.password_hash),
        ...access,
      });
    } catch (error) {
      if (!isDuplicateKeyError(error)) throw error;
      // Only an account of the same domain (or superadmin) collides: one the creator can see.
      throw formError({ email: takenIn(access.domain) });
    }
    const user = (await this.users.findById(id))!;
    await this.record(by, 'user.create', user, { email, role: access.role, client_id: access.client_id });
    return { user, password, generated };
  }

  async setAccess(target: UserRow, input: AccessInput, by: AuditContext): Promise<void> {
    const errors: FormErrors = {};
    const access = await this.resolveAccess(input, errors);
    if (Object.keys(errors).length > 0 || !access) throw formError(errors);
    try {
      await this.users.setAccess(target.id, access);
    } catch (error) {
      // Only a superadmin moves an account to another domain (or makes it a superadmin).
      if (!isDuplicateKeyError(error)) throw error;
      throw formError({ domain: takenIn(access.domain) });
    }
    const from = { role: target.role, domain: target.domain, client_id: target.client_id };
    if (access.domain === target.domain) {
      await this.record(by, 'user.access', target, { from, to: access });
      return;
    }
    // Moved to another tenant (or to or from the superadmins): a row in each audit log,
    // each with its own side only — one tenant learns no name or client id of the other.
    await this.record(by, 'user.access', target, { from, to: { moved_out: true } });
    await this.record(
      by,
      'user.access',
      { ...target, domain: access.domain },
      { from: { moved_in: true }, to: access },
    );
  }

  /** A new random password (returned once); every session of the user ends and a lockout is lifted. */
  async resetPassword(target: UserRow, by: AuditContext): Promise<string> {
    const password = generatePassword();
    await this.users.setPassword(target.id, await this.hasher.hash(password, target.password_hash));
    await this.users.unlock(target.id);
    await this.record(by, 'user.password_reset', target);
    return password;
  }

  /** Sets a password typed by an operator (`mb user passwd`). */
  async setPassword(target: UserRow, password: string, by: AuditContext): Promise<void> {
    const weak = passwordProblem(password);
    if (weak) throw formError({ password: weak });
    await this.users.setPassword(target.id, await this.hasher.hash(password, target.password_hash));
    await this.users.unlock(target.id);
    await this.record(by, 'user.password_reset', target);
  }

  async setDisabled(target: UserRow, disabled: boolean, by: AuditContext): Promise<void> {
    await this.users.setDisabled(target.id, disabled);
    await this.record(by, disabled ? 'user.disable' : 'user.enable', target);
  }

  async unlock(target: UserRow, by: AuditContext): Promise<void> {
    await this.users.unlock(target.id);
    await this.record(by, 'user.unlock', target);
  }

  private async resolveAccess(
    input: AccessInput,
    errors: FormErrors,
  ): Promise<{ role: UserRole; domain: string | null; client_id: number | null } | undefined> {
    if (input.role === 'superadmin') return { role: 'superadmin', domain: null, client_id: null };
    const domain = input.domain?.trim() ?? '';
    if (!this.config.domain(domain)) {
      const names = [...this.config.domains().keys()];
      errors['domain'] = `Choose one of the configured domains (${names.join(', ')})`;
      return undefined;
    }
    if (input.role === 'admin') return { role: 'admin', domain, client_id: null };
    const clientName = input.clientName?.trim() ?? '';
    const client = clientName ? await this.clients.findByNameAndDomain(clientName, domain) : undefined;
    if (!client) {
      errors['client'] = clientName
        ? `There is no client ${clientName} in ${domain}`
        : 'A user sees the messages of one client: choose it';
      return undefined;
    }
    return { role: 'user', domain, client_id: client.id };
  }

  private async record(
    by: AuditContext,
    action: string,
    target: { id: number | null; domain: string | null },
    details?: Record<string, unknown>,
  ): Promise<void> {
    await this.audit.record({
      actor: by.actor,
      action,
      target_type: 'user',
      target_id: target.id === null ? null : String(target.id),
      domain: target.domain,
      ip: by.ip,
      details: details ?? null,
    });
  }
}

/** A collision's message: the account it collides with is in the domain being written to. */
function takenIn(domain: string | null): string {
  return domain === null
    ? 'A superadmin with this email exists already'
    : `A user with this email exists in ${domain} already`;
}

function formError(errors: FormErrors): BrokerError {
  return new BrokerError('FORM_INVALID', undefined, errors);
}
