/**
 * `mb user …` as a real child process against a workspace's config and database: the
 * password comes from stdin (or is generated and printed once), rules are the portal's,
 * and every change lands in the audit log as `cli:<os user>`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type DatabaseHandle } from '../../src/db/database.js';
import { createRepositories, type Repositories } from '../../src/db/index.js';
import { PasswordHasher } from '../../src/portal/password-hasher.js';
import { createWorkspace, type Workspace } from '../support/broker-harness.js';
import { runCli } from '../support/mb-cli.js';

let workspace: Workspace;
let database: DatabaseHandle;
let repositories: Repositories;
const hasher = new PasswordHasher(10);
const mb = (args: string[], input?: string) =>
  runCli(['user', ...args], { configPath: workspace.configPath, ...(input === undefined ? {} : { input }) });

beforeAll(async () => {
  workspace = await createWorkspace({ portal: { scrypt_log_n: 12 }, bootstrap: { demo_client: false } });
});
afterAll(async () => {
  await database?.close();
  await workspace?.cleanup();
});

describe('mb user', () => {
  it('adds an admin with the password from stdin (the only domain is the default)', async () => {
    const result = await mb(['add', 'ops@example.test', '--role', 'admin'], 'a long operator password\n');
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('created admin ops@example.test in default\n');
    // The CLI migrated the database on its own: the broker has never run here.
    database = openDatabase({ url: workspace.database.url, poolSize: 2 });
    repositories = createRepositories(database.db);
    const user = (await repositories.users.findAccounts('ops@example.test'))[0]!;
    expect(user).toMatchObject({ role: 'admin', domain: 'default', client_id: null });
    expect(user.password_hash).toMatch(/^\$scrypt\$ln=12,/);
    expect(await hasher.verify('a long operator password', user.password_hash)).toBe(true);
    const audit = await repositories.audit.list({ domain: 'default', limit: 10 });
    expect(audit.find((e) => e.action === 'user.create')?.actor).toMatch(/^cli:/);
    expect(JSON.stringify(audit)).not.toContain('a long operator password');
  });

  it('generates and prints a password once when stdin is empty', async () => {
    const result = await mb(['add', 'root@example.test', '--role', 'superadmin'], '');
    expect(result.code).toBe(0);
    const password = /password \(shown once\): (\S+)/.exec(result.stdout)![1]!;
    const user = (await repositories.users.findAccounts('root@example.test'))[0]!;
    expect(user).toMatchObject({ role: 'superadmin', domain: null });
    expect(await hasher.verify(password, user.password_hash)).toBe(true);
  });

  it('refuses what the portal refuses, naming the option to fix', async () => {
    const cases: Array<[string[], string, string]> = [
      [
        ['add', 'ops@example.test', '--role', 'admin'],
        'another long password',
        'email: A user with this email exists in default already',
      ],
      [
        ['add', 'u@example.test', '--role', 'user', '--client', 'nosuch'],
        'a long enough password',
        '--client: There is no client nosuch in default',
      ],
      [
        ['add', 'x@example.test', '--role', 'admin', '--domain', 'elsewhere'],
        'a long enough password',
        '--domain: Choose one of the configured domains (default)',
      ],
    ];
    for (const [args, input, message] of cases) {
      const result = await mb(args, input);
      expect(result.code, message).not.toBe(0);
      expect(result.stderr, message).toContain(message);
    }
  });

  it('refuses an email with control or bidi characters, and lists a stored one escaped', async () => {
    for (const email of ['esc\u001b[31m@example.test', 'rtl\u202egro.test@example.test']) {
      const result = await mb(['add', email, '--role', 'admin'], 'a long enough password\n');
      expect(result.code, JSON.stringify(email)).not.toBe(0);
      expect(result.stderr).toContain('email: Enter an email address');
    }
    // A row stored before the rule (or written by hand) is still printed harmlessly.
    const hostile = 'old\u001b]0;owned\u0007\u202e@example.test';
    await repositories.users.create({
      email: hostile,
      password_hash: 'x',
      role: 'admin',
      domain: 'default',
      client_id: null,
    });
    const listed = await mb(['list']);
    expect(listed.code).toBe(0);
    expect(listed.stdout.replace(/[\t\n]/g, '')).not.toMatch(/[\p{Cc}\p{Cf}]/u);
    expect(listed.stdout).toContain('old\\x1b]0;owned\\x07\\u202e@example.test\tadmin\tdefault\t');
    expect((await mb(['disable', hostile])).stdout).toBe(
      'old\\x1b]0;owned\\x07\\u202e@example.test (default): disabled\n',
    );
  });

  it('adds a user who sees one client', async () => {
    await repositories.clients.create({ name: 'gw1', domain: 'default' });
    const result = await mb(
      ['add', 'reader@example.test', '--role', 'user', '--client', 'gw1'],
      'a long reader password',
    );
    expect(result.code).toBe(0);
    const client = (await repositories.clients.findByNameAndDomain('gw1', 'default'))!;
    expect((await repositories.users.findAccounts('reader@example.test'))[0]).toMatchObject({
      role: 'user',
      client_id: client.id,
    });
  });

  it('changes a password (sessions end, lock lifted), disables, enables and lists', async () => {
    const before = (await repositories.users.findAccounts('ops@example.test'))[0]!;
    await repositories.users.recordFailedLogin(before.id, new Date(Date.now() + 600_000));
    expect((await mb(['passwd', 'ops@example.test'], 'the next long password\n')).code).toBe(0);
    const after = (await repositories.users.findAccounts('ops@example.test'))[0]!;
    expect(after.token_version).toBe(before.token_version + 1);
    expect(after.locked_until).toBeNull();
    expect(await hasher.verify('the next long password', after.password_hash)).toBe(true);

    expect((await mb(['disable', 'ops@example.test'])).stdout).toBe('ops@example.test (default): disabled\n');
    expect((await repositories.users.findAccounts('ops@example.test'))[0]!.disabled).toBe(true);
    const listed = await mb(['list']);
    expect(listed.stdout).toMatch(/^ops@example\.test\tadmin\tdefault\tdisabled\t/m);
    expect(listed.stdout).toMatch(/^root@example\.test\tsuperadmin\t\*\tactive\t/m);
    expect((await mb(['enable', 'ops@example.test'])).stdout).toBe('ops@example.test (default): enabled\n');
    expect((await repositories.users.findAccounts('ops@example.test'))[0]!.disabled).toBe(false);
    await repositories.users.recordFailedLogin(before.id, new Date(Date.now() + 600_000));
    expect((await mb(['unlock', 'ops@example.test'])).stdout).toBe('ops@example.test (default): unlocked\n');
    expect((await repositories.users.findAccounts('ops@example.test'))[0]!.locked_until).toBeNull();
    const missing = await mb(['disable', 'nobody@example.test']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no user nobody@example.test');
    const actions = (await repositories.audit.list({ domain: 'default', limit: 20 })).map((e) => e.action);
    expect(actions).toEqual(expect.arrayContaining(['user.password_reset', 'user.disable', 'user.enable']));
  });

  it('takes --domain where an email has several accounts (#17: accounts are per tenant), and says so', async () => {
    // ops@example.test is the default domain's admin; the same email becomes a superadmin too.
    expect((await mb(['add', 'ops@example.test', '--role', 'superadmin'], 'a superadmin password\n')).code).toBe(0);
    const accounts = await repositories.users.findAccounts('ops@example.test');
    expect(accounts.map((a) => a.domain)).toEqual(['default', null]);
    const ambiguous = await mb(['disable', 'ops@example.test']);
    expect(ambiguous.code).toBe(1);
    expect(ambiguous.stderr).toContain('ops@example.test has accounts in default, *: say which with --domain');
    expect((await repositories.users.findAccounts('ops@example.test')).some((a) => a.disabled)).toBe(false);

    expect((await mb(['disable', 'ops@example.test', '--domain', '*'])).stdout).toBe(
      'ops@example.test (*): disabled\n',
    );
    expect(await repositories.users.findAccount('ops@example.test', null)).toMatchObject({ disabled: true });
    expect(await repositories.users.findAccount('ops@example.test', 'default')).toMatchObject({ disabled: false });
    const passwd = await mb(['passwd', 'ops@example.test', '--domain', 'default'], 'a third long password\n');
    expect(passwd.stdout).toBe('password of ops@example.test (default) changed\n');
    const admin = (await repositories.users.findAccount('ops@example.test', 'default'))!;
    expect(await hasher.verify('a third long password', admin.password_hash)).toBe(true);
    const missing = await mb(['unlock', 'ops@example.test', '--domain', 'elsewhere']);
    expect(missing.stderr).toContain('no user ops@example.test in elsewhere');
    // The same email twice among superadmins is still refused.
    const twice = await mb(['add', 'OPS@example.test', '--role', 'superadmin'], 'a superadmin password\n');
    expect(twice.stderr).toContain('email: A superadmin with this email exists already');
  });

  it('lists one domain, the superadmins with --domain *, and refuses a domain that is not configured', async () => {
    const tenant = await mb(['list', '--domain', 'default']);
    expect(tenant.stdout).toMatch(/^ops@example\.test\tadmin\tdefault\t/m);
    expect(tenant.stdout).not.toContain('\tsuperadmin\t');
    // Before: `*`, as the list shows superadmins, listed nothing; an unknown domain nothing, exit 0.
    const superadmins = await mb(['list', '--domain', '*']);
    expect(superadmins.code, superadmins.stderr).toBe(0);
    expect(superadmins.stdout).toMatch(/^root@example\.test\tsuperadmin\t\*\t/m);
    expect(superadmins.stdout).not.toContain('\tdefault\t');
    const unknown = await mb(['list', '--domain', 'nope']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('UNKNOWN_DOMAIN: Domain nope is not configured');
  });
});
