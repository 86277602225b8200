/**
 * Accounts are per tenant (#17 item 7), through the real portal (inject(), real scrypt,
 * MariaDB, Redis and encryption actor): two domain admins each create an account for the
 * same email, answered like any other creation; each account signs in to its own tenant and
 * sees only it; sign-in without a domain is no oracle of how many accounts an email has
 * (same answer, one scrypt); and the lockout holds for every account a burst evaluates.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseHash } from '../../src/portal/password-hasher.js';
import { PortalClient } from '../support/portal-client.js';
import { PASSWORD, startPortalHarness, type PortalHarness } from '../support/portal-harness.js';

const MAX_FAILURES = 5;

let h: PortalHarness;
let adminAlpha: PortalClient;
let adminBeta: PortalClient;

beforeAll(async () => {
  // scrypt at 2^14: slow enough (tens of ms) that the attempts of a burst overlap.
  h = await startPortalHarness({
    values: { portal: { scrypt_log_n: 14, scrypt_p: 1, login_max_failures: MAX_FAILURES, ip_max_failures: 1000 } },
  });
  adminAlpha = await PortalClient.signedIn(h.app, 'admin@alpha.test');
  adminBeta = await PortalClient.signedIn(h.app, 'admin@beta.test');
});
afterAll(async () => {
  await h?.close();
});

let nextAddress = 1;
/** A browser of its own address (the per-address throttle stays out of the way). */
const visitor = () => new PortalClient(h.app, `10.9.${Math.floor(nextAddress / 250)}.${(nextAddress++ % 250) + 1}`);

/** A user account created by a domain admin in the portal: the page shown and the one-time password. */
async function createUser(admin: PortalClient, email: string, client: string) {
  await admin.get('/portal/admin/users/new');
  const response = await admin.post('/portal/admin/users', { email, role: 'user', client, password: '' });
  const password = /id="new-password" value="([^"]+)"/.exec(response.body)?.[1];
  return { response, password: password! };
}

/** A page with what legitimately differs between two answers taken out. */
function normalized(body: string, ...varying: string[]): string {
  let out = body
    .replace(/name="_csrf" value="[^"]*"/g, '')
    .replace(/<meta name="csrf-token" content="[^"]*"/g, '')
    .replace(/\/admin\/users\/\d+"/g, '/admin/users/ID"');
  for (const text of varying) out = out.replaceAll(text, 'VARYING');
  return out;
}

async function accountsOf(email: string) {
  const rows = await h.repositories.users.findAccounts(email);
  return Object.fromEntries(rows.map((row) => [row.domain ?? '*', row]));
}

/** Per domain: the failed sign-ins on the email's account there, as its tenant's audit log shows them. */
async function failedSignIns(email: string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const [domain, row] of Object.entries(await accountsOf(email))) {
    const audit = await h.repositories.audit.list({ domain, limit: 500 });
    counts[domain] = audit.filter((e) => e.action === 'auth.login_failed' && e.target_id === String(row.id)).length;
  }
  return counts;
}

/** Counts the scrypt derivations the portal's hasher runs while `run` does. */
async function derivationsDuring(run: () => Promise<unknown>): Promise<number> {
  const hasher = h.deps.hasher as unknown as { derive: (...args: unknown[]) => Promise<Buffer> };
  const derive = hasher.derive;
  let count = 0;
  hasher.derive = (...args: unknown[]) => {
    count++;
    return derive.apply(h.deps.hasher, args);
  };
  try {
    await run();
  } finally {
    hasher.derive = derive;
  }
  return count;
}

describe('one email in two tenants', () => {
  const email = 'shared@example.test';
  const passwords: Record<'alpha' | 'beta', string> = { alpha: '', beta: '' };

  it("is created by each tenant's admin, each answered like the creation of any other email", async () => {
    const alpha = await createUser(adminAlpha, email, 'a1');
    const beta = await createUser(adminBeta, email, 'b1');
    const control = await createUser(adminBeta, 'only-here@example.test', 'b1');
    for (const created of [alpha, beta, control]) expect(created.response.statusCode).toBe(200);
    expect(normalized(beta.response.body, email, beta.password)).toBe(
      normalized(control.response.body, 'only-here@example.test', control.password),
    );
    passwords.alpha = alpha.password;
    passwords.beta = beta.password;

    const accounts = await accountsOf(email);
    expect(Object.keys(accounts).sort()).toEqual(['alpha', 'beta']);
    expect(accounts['alpha']).toMatchObject({ role: 'user', client_id: h.seed.clients.a1 });
    expect(accounts['beta']).toMatchObject({ role: 'user', client_id: h.seed.clients.b1 });
    // One salt for the email's accounts: a sign-in without a domain hashes once.
    expect(parseHash(accounts['alpha']!.password_hash)!.salt).toEqual(parseHash(accounts['beta']!.password_hash)!.salt);
    // Each creation is in its own tenant's audit log, nothing about the other.
    for (const domain of ['alpha', 'beta'] as const) {
      const audit = await h.repositories.audit.list({ domain, limit: 50 });
      const creations = audit.filter((e) => e.action === 'user.create' && e.target_id === String(accounts[domain]!.id));
      expect(creations).toHaveLength(1);
    }
  });

  it('signs each account in to its own tenant, with or without the domain, and it sees only that tenant', async () => {
    await h.addMessages(h.seed.clients.a1, 'alpha', [{ body: 'for the alpha account', sender: '+14155550201' }]);
    await h.addMessages(h.seed.clients.b1, 'beta', [{ body: 'for the beta account', sender: '+14155550202' }]);
    for (const [tenant, other] of [
      ['alpha', 'beta'],
      ['beta', 'alpha'],
    ] as const) {
      for (const domain of [undefined, tenant]) {
        const browser = visitor();
        expect((await browser.login(email, passwords[tenant], domain)).statusCode, `${tenant} ${domain}`).toBe(303);
        const account = await browser.get('/portal/account');
        expect(account.body).toContain(tenant);
        const messages = await browser.get('/portal/messages');
        expect(messages.statusCode).toBe(200);
        expect(messages.body).toContain(`for the ${tenant} account`);
        expect(messages.body).not.toContain(`for the ${other} account`);
      }
      // The other tenant's domain with this account's password opens nothing.
      expect((await visitor().login(email, passwords[tenant], other)).statusCode).toBe(401);
    }
  });

  it('answers a wrong password alike for an email with no, one or two accounts, in one scrypt each', async () => {
    await h.deps.hasher.verifyNothing('x'); // makes its stand-in hash once, on first use
    const before = await accountsOf(email);
    const failuresBefore = await failedSignIns(email);
    const pages: string[] = [];
    for (const typed of ['nobody@example.test', 'only-here@example.test', email]) {
      const browser = visitor();
      await browser.get('/portal/login');
      let response!: Awaited<ReturnType<PortalClient['post']>>;
      const derivations = await derivationsDuring(async () => {
        response = await browser.post('/portal/login', { email: typed, password: 'not the password at all' });
      });
      expect(response.statusCode, typed).toBe(401);
      expect(derivations, typed).toBe(1);
      pages.push(normalized(response.body, typed));
    }
    expect(new Set(pages).size).toBe(1);
    expect(pages[0]).toContain('Wrong email or password');
    // Counted against each account evaluated, and each tenant sees its own account's entry.
    const accounts = await accountsOf(email);
    const failuresAfter = await failedSignIns(email);
    for (const domain of ['alpha', 'beta'] as const) {
      expect(accounts[domain]!.failed_logins).toBe(before[domain]!.failed_logins + 1);
      expect(failuresAfter[domain]).toBe(failuresBefore[domain]! + 1);
    }
  });

  it("counts a sign-in without a domain as a wrong password on the email's other account", async () => {
    // The outcome (one account opened, or several) tells whether the password is the other
    // account's too: a guess at it, so it counts, or a tenant admin holding one account of
    // an email could guess at the other's password without ever locking it.
    const before = await accountsOf(email);
    const failuresBefore = await failedSignIns(email);
    expect((await visitor().login(email, passwords.alpha)).statusCode).toBe(303);
    const after = await accountsOf(email);
    expect(after['alpha']!.failed_logins).toBe(0);
    expect(after['beta']!.failed_logins).toBe(before['beta']!.failed_logins + 1);
    expect(await failedSignIns(email)).toEqual({ alpha: failuresBefore['alpha'], beta: failuresBefore['beta']! + 1 });
    // With the domain, only that account is tried.
    expect((await visitor().login(email, passwords.alpha, 'alpha')).statusCode).toBe(303);
    expect((await accountsOf(email))['beta']!.failed_logins).toBe(after['beta']!.failed_logins);
  });

  it('asks for the domain only when the password opens both accounts, never for a locked one', async () => {
    const same = 'one password for both accounts';
    const accounts = await accountsOf(email);
    for (const account of Object.values(accounts)) {
      await h.repositories.users.setPassword(account.id, await h.deps.hasher.hash(same, account.password_hash));
      await h.repositories.users.unlock(account.id);
    }
    const ambiguous = await visitor().login(email, same);
    expect(ambiguous.statusCode).toBe(401);
    expect(ambiguous.body).toContain('enter the domain of the one you mean');
    expect(ambiguous.body).not.toContain('set-cookie');
    expect((await h.repositories.audit.list({ limit: 1 }))[0]).toMatchObject({
      action: 'auth.login_ambiguous',
      domain: null,
    });
    // A right password is no failure: nothing counted against either.
    for (const account of Object.values(await accountsOf(email))) expect(account.failed_logins).toBe(0);

    const chosen = visitor();
    expect((await chosen.login(email, same, 'beta')).statusCode).toBe(303);
    expect((await chosen.get('/portal/messages')).body).toContain('for the beta account');

    // A locked account's right password counts for nothing, not even as "several match".
    await h.repositories.users.recordFailedLogin(accounts['beta']!.id, new Date(Date.now() + 600_000));
    const despiteLock = visitor();
    expect((await despiteLock.login(email, same)).statusCode).toBe(303);
    expect((await despiteLock.get('/portal/messages')).body).toContain('for the alpha account');
    await h.repositories.users.unlock(accounts['beta']!.id);
  });

  it('signs a superadmin in with the domain `*` where their email also has a tenant account', async () => {
    // root@test (superadmin) gets an account in alpha too, with the same password.
    const root = (await h.repositories.users.findAccount('root@test', null))!;
    await h.repositories.users.create({
      email: 'root@test',
      password_hash: root.password_hash,
      role: 'admin',
      domain: 'alpha',
      client_id: null,
    });
    expect((await visitor().login('root@test', PASSWORD)).body).toContain('enter the domain of the one you mean');
    const superadmin = visitor();
    expect((await superadmin.login('root@test', PASSWORD, '*')).statusCode).toBe(303);
    expect((await superadmin.get('/portal/admin/clients')).body).toContain('>b1</a>');
    const tenantAdmin = visitor();
    expect((await tenantAdmin.login('root@test', PASSWORD, 'alpha')).statusCode).toBe(303);
    const clients = (await tenantAdmin.get('/portal/admin/clients')).body;
    expect(clients).toContain('>a1</a>');
    expect(clients).not.toContain('>b1</a>');
  });
});

describe('an admin holding one account of an email', () => {
  it("cannot guess at the email's account in another tenant beyond its lockout", async () => {
    const email = 'guessed@example.test';
    const secretOfBeta = 'the beta account password';
    await adminBeta.get('/portal/admin/users/new');
    const made = await adminBeta.post('/portal/admin/users', {
      email,
      role: 'user',
      client: 'b1',
      password: secretOfBeta,
    });
    expect(made.statusCode).toBe(303);
    // alpha's admin makes a probe account for the email and tries guesses through it: each
    // guess becomes the probe's password, then a sign-in without a domain tells whether it
    // opened one account (the guess is wrong) or several (right).
    expect((await createUser(adminAlpha, email, 'a1')).response.statusCode).toBe(200);
    const beta = (await h.repositories.users.findAccount(email, 'beta'))!;
    const alpha = (await h.repositories.users.findAccount(email, 'alpha'))!;
    const guess = async (password: string) => {
      await h.repositories.users.setPassword(alpha.id, await h.deps.hasher.hash(password, alpha.password_hash));
      return visitor().login(email, password);
    };
    for (let i = 0; i < MAX_FAILURES; i++) expect((await guess(`wrong guess number ${i}`)).statusCode).toBe(303);
    const locked = (await h.repositories.users.findById(beta.id))!;
    expect(locked.failed_logins).toBe(MAX_FAILURES);
    expect(locked.locked_until!.getTime()).toBeGreaterThan(Date.now());
    // The right guess now looks like the wrong ones: the locked account does not take part.
    const right = await guess(secretOfBeta);
    expect(right.statusCode).toBe(303);
    expect(right.body).not.toContain('enter the domain');
  });
});

describe('moving an account', () => {
  it('refuses plainly to move an account into a domain (or among superadmins) where its email has one', async () => {
    // root@test has an alpha account with the same password too (the test above): `*` says which.
    const root = visitor();
    expect((await root.login('root@test', PASSWORD, '*')).statusCode).toBe(303);
    const email = 'mover@example.test';
    expect((await createUser(adminAlpha, email, 'a1')).response.statusCode).toBe(200);
    expect((await createUser(adminBeta, email, 'b1')).response.statusCode).toBe(200);
    const accounts = await accountsOf(email);
    const url = `/portal/admin/users/${accounts['alpha']!.id}`;
    await root.get(url);
    const moved = await root.post(`${url}/access`, { role: 'user', domain: 'beta', client: 'b1' });
    expect(moved.statusCode).toBe(422);
    expect(moved.body).toContain('A user with this email exists in beta already');
    expect(await h.repositories.users.findById(accounts['alpha']!.id)).toMatchObject({ domain: 'alpha' });
    // Made a superadmin: no other superadmin has this email, so it works.
    await root.get(url);
    expect((await root.post(`${url}/access`, { role: 'superadmin', domain: '', client: '' })).statusCode).toBe(303);
    expect(await h.repositories.users.findById(accounts['alpha']!.id)).toMatchObject({ domain: null });
    await root.get(`/portal/admin/users/${accounts['beta']!.id}`);
    const twice = await root.post(`/portal/admin/users/${accounts['beta']!.id}/access`, {
      role: 'superadmin',
      domain: '',
      client: '',
    });
    expect(twice.statusCode).toBe(422);
    expect(twice.body).toContain('A superadmin with this email exists already');
  });

  it("audits a move in each tenant's log, each with its own side only", async () => {
    const root = visitor();
    expect((await root.login('root@test', PASSWORD, '*')).statusCode).toBe(303);
    const email = 'traveller@example.test';
    const { response, password } = await createUser(adminAlpha, email, 'a1');
    expect(response.statusCode).toBe(200);
    const id = (await accountsOf(email))['alpha']!.id;
    // It acts in alpha first: its sign-in stays in alpha's log, naming it.
    expect((await visitor().login(email, password, 'alpha')).statusCode).toBe(303);
    await root.get(`/portal/admin/users/${id}`);
    expect(
      (await root.post(`/portal/admin/users/${id}/access`, { role: 'user', domain: 'beta', client: 'b1' })).statusCode,
    ).toBe(303);
    const moveIn = async (domain: string) =>
      (await h.repositories.audit.list({ domain, limit: 200 })).find(
        (e) => e.action === 'user.access' && e.target_id === String(id),
      );
    const left = await moveIn('alpha');
    const arrived = await moveIn('beta');
    expect(left?.details).toMatchObject({ from: { domain: 'alpha' }, to: { moved_out: true } });
    expect(JSON.stringify(left?.details)).not.toContain('beta');
    expect(arrived?.details).toMatchObject({ from: { moved_in: true }, to: { domain: 'beta' } });
    expect(JSON.stringify(arrived?.details)).not.toContain('alpha');
    // Alpha's audit page names the account of its old rows, but not the tenant it went to.
    const page = (await adminAlpha.get('/portal/admin/audit')).body;
    expect(page).toContain(`${email} (another domain)`);
    expect(page).not.toContain('beta');
  });
});

describe('an admin moved to another tenant', () => {
  it('takes no pending key download of the old tenant along', async () => {
    const root = visitor();
    expect((await root.login('root@test', PASSWORD, '*')).statusCode).toBe(303);
    await root.get('/portal/admin/users/new');
    const made = await root.post('/portal/admin/users', {
      email: 'keyholder@example.test',
      role: 'admin',
      domain: 'alpha',
      client: '',
      password: '',
    });
    const password = /id="new-password" value="([^"]+)"/.exec(made.body)![1]!;
    const id = (await accountsOf('keyholder@example.test'))['alpha']!.id;
    const keyholder = visitor();
    expect((await keyholder.login('keyholder@example.test', password, 'alpha')).statusCode).toBe(303);
    await keyholder.get('/portal/admin/certificates/new');
    const issued = await keyholder.post('/portal/admin/certificates', { client: 'a1@alpha', days: '30' });
    expect(issued.statusCode).toBe(200);
    const token = /name="token" value="([^"]+)"/.exec(issued.body)![1]!;

    await root.get(`/portal/admin/users/${id}`);
    expect((await root.post(`/portal/admin/users/${id}/access`, { role: 'admin', domain: 'beta' })).statusCode).toBe(
      303,
    );
    await keyholder.get('/portal/admin/certificates');
    const download = await keyholder.post('/portal/admin/certificates/download', { token });
    expect(download.statusCode).toBe(404);
    expect(download.body).not.toContain('PRIVATE KEY');
  });
});

describe('lockout with accounts in several tenants', () => {
  it('evaluates at most login_max_failures wrong passwords per account of a 30-attempt burst without a domain', async () => {
    const email = 'burst@example.test';
    const alpha = await createUser(adminAlpha, email, 'a1');
    expect((await createUser(adminBeta, email, 'b1')).response.statusCode).toBe(200);
    const accounts = await accountsOf(email);
    const browsers = Array.from({ length: 30 }, visitor);
    await Promise.all(browsers.map((browser) => browser.get('/portal/login')));
    const burst = browsers
      .slice(0, 29)
      .map((browser, i) => browser.post('/portal/login', { email, password: `wrong guess ${i}` }));
    // The right password of the alpha account joins once both accounts are locked.
    for (let i = 0; i < 400; i++) {
      const rows = Object.values(await accountsOf(email));
      if (rows.every((row) => row.locked_until && row.locked_until.getTime() > Date.now())) break;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const right = browsers[29]!.post('/portal/login', { email, password: alpha.password });
    const statuses = (await Promise.all([...burst, right])).map((r) => r.statusCode);
    expect(statuses.filter((s) => s !== 401)).toEqual([]);

    const audit = await h.repositories.audit.list({ limit: 1000 });
    for (const domain of ['alpha', 'beta'] as const) {
      const id = String(accounts[domain]!.id);
      const reasons = audit
        .filter((e) => e.action === 'auth.login_failed' && e.target_id === id)
        .map((e) => String((e.details as { reason?: unknown } | null)?.reason));
      expect(
        reasons.filter((r) => r.startsWith('wrong_password')),
        domain,
      ).toHaveLength(MAX_FAILURES);
      expect(
        reasons.filter((r) => r === 'locked'),
        domain,
      ).toHaveLength(30 - MAX_FAILURES);
      const row = (await h.repositories.users.findById(accounts[domain]!.id))!;
      expect(row.failed_logins).toBe(MAX_FAILURES);
      expect(row.locked_until!.getTime()).toBeGreaterThan(Date.now());
    }
    // Still locked afterwards, with or without the domain.
    expect((await visitor().login(email, alpha.password)).statusCode).toBe(401);
    expect((await visitor().login(email, alpha.password, 'alpha')).statusCode).toBe(401);
  });
});
