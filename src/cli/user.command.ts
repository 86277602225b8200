/**
 * `mb user …`: portal accounts from the command line, e.g. the first admin of a fresh
 * install or a locked-out superadmin.
 *
 *   mb user add EMAIL --role admin --domain acme      password from stdin (prompted on a terminal)
 *   mb user add EMAIL --role user --domain acme --client gw1
 *   mb user passwd EMAIL | list [--domain D] | disable EMAIL | enable EMAIL | unlock EMAIL
 *
 * Accounts are per domain (#17): an email may have one in several domains and one among
 * the superadmins. passwd/disable/enable/unlock take `--domain D` (`*`: the superadmin's)
 * and insist on it when the email alone names more than one account.
 *
 * A password is never taken from the command line (it would sit in the shell history and
 * in `ps`). With nothing on stdin, `add` generates one and prints it once.
 */
import { type Command, Option } from 'commander';
import type { BrokerConfig } from '../config/config.js';
import type { UserRole, UserRow } from '../db/schema.js';
import { BrokerError } from '../errors.js';
import { SUPERADMIN_DOMAIN, accountDomainLabel, accountDomainOf } from '../portal/account-domain.js';
import type { AuditContext } from '../portal/user-admin.service.js';
import type { CliAccounts } from './cli-context.js';
import { commandGroup, printTabbed, requireConfiguredDomain, runCommand, terminalSafe } from './cli-support.js';

interface AccountsContext extends CliAccounts {
  config: Readonly<BrokerConfig>;
  /** The audit log names `cli:<os user>`, like the CA commands. */
  by: AuditContext;
}

const DOMAIN_OPTION = `the account's domain (${SUPERADMIN_DOMAIN}: the superadmin's); needed when the email has accounts in several`;

/** The roles (src/db/schema.ts USER_ROLES), spelled out so that loading this module loads no database code. */
const ROLES = ['user', 'admin', 'superadmin'] as const satisfies readonly UserRole[];

export function registerUserCommands(program: Command): void {
  const user = commandGroup(program, 'user').description('Portal accounts: add, passwd, list, disable, enable, unlock');

  user
    .command('add <email>')
    .description('Create a portal account; the password is read from stdin (generated and printed when stdin is empty)')
    .addOption(
      new Option('--role <role>', 'user (one client), admin (one domain) or superadmin (every domain)')
        .choices(ROLES)
        .makeOptionMandatory(),
    )
    .option('--domain <domain>', 'domain of a user or admin (default: the only configured domain)')
    .option('--client <name>', 'client whose messages a user sees (its name within the domain)')
    .action(async (email: string, options: { role: UserRole; domain?: string; client?: string }, command: Command) => {
      await withAccounts(command, async (ctx) => {
        const password = await readPassword('Password (empty: generate one): ');
        // One domain configured (the default setup): it is the one meant.
        const domains = ctx.config.domains.map((d) => d.name);
        const domain = options.domain ?? (domains.length === 1 ? domains[0]! : null);
        const created = await ctx.users.create(
          { email, role: options.role, domain, clientName: options.client ?? null, password },
          ctx.by,
        );
        process.stdout.write(
          `created ${created.user.role} ${created.user.email}${created.user.domain ? ` in ${created.user.domain}` : ''}\n`,
        );
        if (created.generated) process.stdout.write(`password (shown once): ${created.password}\n`);
      });
    });

  user
    .command('passwd <email>')
    .description('Set a new password (from stdin); ends the user’s sessions and lifts a lockout')
    .option('--domain <domain>', DOMAIN_OPTION)
    .action(async (email: string, options: { domain?: string }, command: Command) => {
      await withAccounts(command, async (ctx) => {
        const target = await find(ctx, email, options.domain);
        await ctx.users.setPassword(target, await readPassword('New password: '), ctx.by);
        process.stdout.write(`password of ${named(target)} changed\n`);
      });
    });

  user
    .command('list')
    .description('List accounts')
    .option('--domain <domain>', `only this domain (${SUPERADMIN_DOMAIN}: the superadmins)`)
    .action(async (options: { domain?: string }, command: Command) => {
      await withAccounts(command, async (ctx) => {
        const domain = accountDomainOf(options.domain);
        // A misspelt domain would list nothing and pass for "no accounts there".
        if (typeof domain === 'string') requireConfiguredDomain(ctx.config, domain);
        const rows = await ctx.repositories.users.list(domain === undefined ? {} : { domain });
        for (const row of rows) {
          const state = row.disabled
            ? 'disabled'
            : row.locked_until && row.locked_until > new Date()
              ? 'locked'
              : 'active';
          printTabbed([
            [
              row.email,
              row.role,
              row.domain ?? '*',
              state,
              `last sign-in ${row.last_login_at?.toISOString() ?? 'never'}`,
            ],
          ]);
        }
      });
    });

  for (const [verb, done, description] of [
    ['disable', 'disabled', 'Disable an account (its sessions end at once)'],
    ['enable', 'enabled', 'Enable a disabled account'],
    ['unlock', 'unlocked', 'Lift a lockout after failed sign-ins'],
  ] as const) {
    user
      .command(`${verb} <email>`)
      .description(description)
      .option('--domain <domain>', DOMAIN_OPTION)
      .action(async (email: string, options: { domain?: string }, command: Command) => {
        await withAccounts(command, async (ctx) => {
          const target = await find(ctx, email, options.domain);
          if (verb === 'unlock') await ctx.users.unlock(target, ctx.by);
          else await ctx.users.setDisabled(target, verb === 'disable', ctx.by);
          process.stdout.write(`${named(target)}: ${done}\n`);
        });
      });
  }
}

/** Runs a body with the portal's account rules, failures reported like any command's. */
function withAccounts(command: Command, run: (ctx: AccountsContext) => Promise<void>): Promise<void> {
  return runCommand(command, async (context) => {
    try {
      const accounts = await context.accounts();
      await run({ ...accounts, config: context.config, by: { actor: context.actor, ip: null } });
    } catch (error) {
      // Form problems name the field: say which option to fix.
      if (error instanceof BrokerError && error.code === 'FORM_INVALID' && error.details) {
        const fields = Object.entries(error.details as Record<string, string>).map(([field, problem]) =>
          field === 'email' || field === 'password' ? `${field}: ${problem}` : `--${field}: ${problem}`,
        );
        throw new Error(fields.join('; '));
      }
      throw error;
    }
  });
}

/**
 * The one account `email` names, in `--domain` when given. The operator sees every
 * tenant, so an ambiguous email is answered with the domains that hold it.
 */
async function find(ctx: AccountsContext, email: string, domain: string | undefined): Promise<UserRow> {
  const selected = accountDomainOf(domain);
  const rows = await ctx.repositories.users.findAccounts(email, selected);
  if (rows.length === 0)
    throw new Error(`no user ${email}${selected === undefined ? '' : ` in ${accountDomainLabel(selected)}`}`);
  if (rows.length > 1) {
    const domains = rows.map((row) => accountDomainLabel(row.domain)).join(', ');
    throw new Error(
      `${email} has accounts in ${domains}: say which with --domain (${SUPERADMIN_DOMAIN} for the superadmin's)`,
    );
  }
  return rows[0]!;
}

/** An account as the operator names it: its email and domain. */
function named(row: UserRow): string {
  return terminalSafe(`${row.email} (${accountDomainLabel(row.domain)})`);
}

/** The password: typed without echo on a terminal, else all of stdin minus one trailing newline. */
async function readPassword(prompt: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) {
    const chunks: Buffer[] = [];
    for await (const chunk of stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks)
      .toString('utf8')
      .replace(/\r?\n$/, '');
  }
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.resume();
  try {
    let typed = '';
    for await (const chunk of stdin) {
      for (const char of (chunk as Buffer).toString('utf8')) {
        if (char === '\r' || char === '\n') return typed;
        if (char === '\u0003') throw new Error('cancelled');
        if (char === '\u007f' || char === '\b') typed = typed.slice(0, -1);
        else typed += char;
      }
    }
    return typed;
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
    process.stderr.write('\n');
  }
}
