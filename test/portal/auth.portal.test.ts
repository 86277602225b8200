/**
 * Sign-in, sessions and the security envelope of the portal, through inject() against the
 * real database and actors: cookie attributes, idle expiry with sliding renewal, logout
 * and password changes ending sessions (token_version), lockout, per-address throttling,
 * CSRF, security headers, and the API untouched by all of it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SESSION_COOKIE } from '../../src/portal/session-tokens.js';
import { PortalClient } from '../support/portal-client.js';
import { PASSWORD, startPortalHarness, type PortalHarness } from '../support/portal-harness.js';

let h: PortalHarness;

beforeAll(async () => {
  h = await startPortalHarness({ values: { portal: { scrypt_log_n: 12, ip_max_failures: 6, login_max_failures: 3 } } });
});
afterAll(async () => {
  await h?.close();
});

const cookieHeader = (response: { headers: Record<string, unknown> }) =>
  [response.headers['set-cookie']].flat().map(String);

describe('sign-in', () => {
  it('sends a browser without a session to the sign-in page, remembering where it wanted to go', async () => {
    const anon = new PortalClient(h.app);
    const root = await anon.get('/');
    expect(root.statusCode).toBe(303);
    expect(root.headers.location).toBe('/portal/');
    const response = await anon.get('/portal/messages?status=failed');
    expect(response.statusCode).toBe(303);
    expect(response.headers.location).toBe('/portal/login?next=%2Fportal%2Fmessages%3Fstatus%3Dfailed');
  });

  it('tells on the sign-in page how many wrong passwords lock an account: the configured number', async () => {
    // login_max_failures is 3 in this harness; the page once said 5 whatever the config.
    const anon = new PortalClient(h.app, '10.1.0.9');
    const hint = /After (\d+) wrong passwords? in a row an account is locked/;
    expect(hint.exec((await anon.get('/portal/login')).body)?.[1]).toBe('3');
    const refused = await anon.post('/portal/login', { email: 'nobody@alpha.test', password: 'not the password' });
    expect(refused.statusCode).toBe(401);
    expect(hint.exec(refused.body)?.[1]).toBe('3');
  });

  it('signs in with a __Host- cookie that is HttpOnly, Secure, SameSite=Strict, Path=/, and records the sign-in', async () => {
    const client = new PortalClient(h.app, '10.1.0.1');
    await client.get('/portal/login');
    const response = await client.post('/portal/login', {
      email: 'USER@alpha.test',
      password: PASSWORD,
      next: '/portal/messages?status=failed',
    });
    expect(response.statusCode).toBe(303);
    expect(response.headers.location).toBe('/portal/messages?status=failed');
    const cookie = cookieHeader(response).find((c) => c.startsWith(`${SESSION_COOKIE}=`))!;
    expect(cookie).toMatch(/; Path=\//);
    expect(cookie).toMatch(/; HttpOnly/);
    expect(cookie).toMatch(/; Secure/);
    expect(cookie).toMatch(/; SameSite=Strict/);
    expect(cookie).not.toMatch(/Domain=/i);
    expect(cookie).toMatch(/Max-Age=1800/);
    const user = await h.repositories.users.findById(h.seed.users.userAlpha.id);
    expect(user!.last_login_at!.getTime()).toBeGreaterThan(Date.now() - 60_000);
    const audit = await h.repositories.audit.list({ domain: 'alpha', limit: 20 });
    expect(audit.some((e) => e.action === 'auth.login' && e.actor === `user:${user!.id}` && e.ip === '10.1.0.1')).toBe(
      true,
    );
    expect((await client.get('/portal/messages')).statusCode).toBe(200);
  });

  it('never redirects off the portal after sign-in', async () => {
    for (const next of [
      '//evil.example/',
      'https://evil.example/',
      '/portal/login',
      '/api/v1/health',
      '/portal/..//evil',
    ]) {
      const client = new PortalClient(h.app, '10.1.0.2');
      await client.get('/portal/login');
      const response = await client.post('/portal/login', { email: 'user@beta.test', password: PASSWORD, next });
      expect(response.headers.location).toBe('/portal/messages');
    }
  });

  it('shows only its own notices: ?notice=constructor (or any inherited name) shows none', async () => {
    const client = new PortalClient(h.app);
    for (const notice of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      const page = await client.get(`/portal/login?notice=${notice}`);
      expect(page.statusCode, notice).toBe(200);
      expect(page.body, notice).not.toContain('native code');
      expect(page.body, notice).not.toContain('function ');
    }
  });

  it('answers a wrong password and an unknown email alike, without a session', async () => {
    const client = new PortalClient(h.app, '10.1.0.3');
    await client.get('/portal/login');
    const wrong = await client.post('/portal/login', { email: 'admin@beta.test', password: 'not the password' });
    const unknown = await client.post('/portal/login', { email: 'nobody@beta.test', password: 'not the password' });
    for (const response of [wrong, unknown]) {
      expect(response.statusCode).toBe(401);
      expect(response.body).toContain('Wrong email or password, or the account is locked for a while');
      expect(
        cookieHeader(response).some((c) => c.startsWith(`${SESSION_COOKIE}=`) && !c.startsWith(`${SESSION_COOKIE}=;`)),
      ).toBe(false);
    }
    // The typed email is kept in the form, HTML-escaped like everything else.
    const escaped = await client.post('/portal/login', { email: '<script>alert(1)</script>@x', password: 'x' });
    expect(escaped.body).toContain('&lt;script&gt;alert(1)&lt;/script&gt;@x');
    expect(escaped.body).not.toContain('<script>alert(1)');
    const audit = await h.repositories.audit.list({ limit: 50 });
    const failures = audit.filter((e) => e.action === 'auth.login_failed' && e.ip === '10.1.0.3');
    expect(failures.length).toBe(3);
    expect(JSON.stringify(failures)).not.toContain('nobody@beta.test');
  });

  it('locks an account after repeated wrong passwords, even against the right one, until an admin unlocks it', async () => {
    const { adminBeta, root } = h.seed.users;
    const client = new PortalClient(h.app, '10.1.0.4');
    await client.get('/portal/login');
    for (let i = 0; i < 3; i++)
      expect((await client.post('/portal/login', { email: adminBeta.email, password: `wrong ${i}` })).statusCode).toBe(
        401,
      );
    const locked = await h.repositories.users.findById(adminBeta.id);
    expect(locked!.failed_logins).toBe(3);
    expect(locked!.locked_until!.getTime()).toBeGreaterThan(Date.now() + 14 * 60_000);
    expect((await client.post('/portal/login', { email: adminBeta.email, password: PASSWORD })).statusCode).toBe(401);

    const superadmin = await PortalClient.signedIn(h.app, root.email, PASSWORD, '10.1.0.5');
    const unlock = await superadmin.submit(
      `/portal/admin/users/${adminBeta.id}`,
      `/portal/admin/users/${adminBeta.id}/unlock`,
      {},
    );
    expect(unlock.statusCode).toBe(303);
    expect((await client.post('/portal/login', { email: adminBeta.email, password: PASSWORD })).statusCode).toBe(303);
    expect((await h.repositories.users.findById(adminBeta.id))!.failed_logins).toBe(0);
  });

  it('throttles an address that keeps failing, whichever accounts it tries (429)', async () => {
    const client = new PortalClient(h.app, '10.9.9.9');
    await client.get('/portal/login');
    for (let i = 0; i < 6; i++)
      await client.post('/portal/login', { email: `guess${i}@alpha.test`, password: 'guess' });
    const throttled = await client.post('/portal/login', { email: 'user@alpha.test', password: PASSWORD });
    expect(throttled.statusCode).toBe(429);
    expect(throttled.body).toContain('Too many failed sign-ins');
    // Another address is not affected.
    expect(
      (await PortalClient.signedIn(h.app, 'user@alpha.test', PASSWORD, '10.9.9.10')).cookies.has(SESSION_COOKIE),
    ).toBe(true);
  });
});

describe('sessions', () => {
  it('ends every session at logout: the old cookie is refused afterwards', async () => {
    const client = await PortalClient.signedIn(h.app, 'user@beta.test', PASSWORD, '10.2.0.1');
    const other = await PortalClient.signedIn(h.app, 'user@beta.test', PASSWORD, '10.2.0.2');
    const stolen = client.cookies.get(SESSION_COOKIE)!;
    await client.get('/portal/messages');
    const logout = await client.post('/portal/logout', {});
    expect(logout.statusCode).toBe(303);
    expect(logout.headers.location).toBe('/portal/login?notice=signed-out');
    expect(cookieHeader(logout).some((c) => c.startsWith(`${SESSION_COOKIE}=;`))).toBe(true);

    const replay = await h.app.inject({
      method: 'GET',
      url: '/portal/messages',
      cookies: { [SESSION_COOKIE]: stolen },
    });
    expect(replay.statusCode).toBe(303);
    expect(replay.headers.location).toMatch(/^\/portal\/login\?notice=session-expired/);
    expect((await other.get('/portal/messages')).statusCode).toBe(303);
  });

  it('expires after 30 idle minutes, and slides the window on activity', async () => {
    const user = (await h.repositories.users.findById(h.seed.users.userBeta.id))!;
    const claims = {
      userId: user.id,
      version: user.token_version,
      role: user.role,
      authTime: Math.floor(Date.now() / 1000) - 600,
    };
    const stale = await h.deps.sessions.issue(claims, Date.now() - 31 * 60_000);
    expect(
      (await h.app.inject({ method: 'GET', url: '/portal/messages', cookies: { [SESSION_COOKIE]: stale } })).statusCode,
    ).toBe(303);

    const older = await h.deps.sessions.issue(claims, Date.now() - 5 * 60_000);
    const renewed = await h.app.inject({
      method: 'GET',
      url: '/portal/messages',
      cookies: { [SESSION_COOKIE]: older },
    });
    expect(renewed.statusCode).toBe(200);
    const fresh = renewed.cookies.find((c) => c.name === SESSION_COOKIE)!;
    expect(fresh.value).not.toBe(older);
    const verified = await h.deps.sessions.verify(fresh.value);
    expect(verified!.issuedAt).toBeGreaterThan(Math.floor(Date.now() / 1000) - 5);
    expect(verified!.authTime).toBe(claims.authTime);

    // A young token is not re-issued on every request.
    const young = await h.deps.sessions.issue(claims);
    const kept = await h.app.inject({ method: 'GET', url: '/portal/messages', cookies: { [SESSION_COOKIE]: young } });
    expect(kept.cookies.find((c) => c.name === SESSION_COOKIE)).toBeUndefined();
  });

  it('changes the password: the current session goes on, every other one ends', async () => {
    const email = 'rotate@beta.test';
    await h.repositories.users.create({
      email,
      password_hash: await h.deps.hasher.hash(PASSWORD),
      role: 'user',
      domain: 'beta',
      client_id: h.seed.clients.b1,
    });
    const here = await PortalClient.signedIn(h.app, email, PASSWORD, '10.2.1.1');
    const elsewhere = await PortalClient.signedIn(h.app, email, PASSWORD, '10.2.1.2');
    await here.get('/portal/account');
    const mismatch = await here.post('/portal/account/password', {
      current_password: PASSWORD,
      new_password: 'a brand new password',
      confirm_password: 'something else entirely',
    });
    expect(mismatch.statusCode).toBe(422);
    expect(mismatch.body).toContain('The two new passwords differ');
    const wrong = await here.post('/portal/account/password', {
      current_password: 'not it at all',
      new_password: 'a brand new password',
      confirm_password: 'a brand new password',
    });
    expect(wrong.statusCode).toBe(422);
    expect(wrong.body).toContain('The current password is not right');
    const short = await here.post('/portal/account/password', {
      current_password: PASSWORD,
      new_password: 'short',
      confirm_password: 'short',
    });
    expect(short.statusCode).toBe(422);
    const changed = await here.post('/portal/account/password', {
      current_password: PASSWORD,
      new_password: 'a brand new password',
      confirm_password: 'a brand new password',
    });
    expect(changed.statusCode).toBe(303);
    expect((await here.get('/portal/account?notice=password-changed')).body).toContain('Your password is changed');
    expect((await elsewhere.get('/portal/messages')).statusCode).toBe(303);
    expect((await new PortalClient(h.app, '10.2.1.3').login(email, PASSWORD)).statusCode).toBe(401);
    expect((await new PortalClient(h.app, '10.2.1.3').login(email, 'a brand new password')).statusCode).toBe(303);
  });

  it('counts a wrong current password like a failed sign-in: audited, locked after the same number, session ended', async () => {
    const email = 'guesser@beta.test';
    const id = await h.repositories.users.create({
      email,
      password_hash: await h.deps.hasher.hash(PASSWORD),
      role: 'user',
      domain: 'beta',
      client_id: h.seed.clients.b1,
    });
    const thief = await PortalClient.signedIn(h.app, email, PASSWORD, '10.3.1.1');
    await thief.get('/portal/account');
    const same = await thief.post('/portal/account/password', {
      current_password: PASSWORD,
      new_password: PASSWORD,
      confirm_password: PASSWORD,
    });
    expect(same.statusCode).toBe(422);
    expect(same.body).toContain('The new password is the same as the current one');
    const change = (current: string) =>
      thief.post('/portal/account/password', {
        current_password: current,
        new_password: 'a brand new password',
        confirm_password: 'a brand new password',
      });
    // login_max_failures is 3 here: two wrong guesses are answered at the field...
    for (const guess of ['guess one', 'guess two']) {
      const wrong = await change(guess);
      expect(wrong.statusCode).toBe(422);
      expect(wrong.body).toContain('The current password is not right');
    }
    expect((await h.repositories.users.findById(id))!.failed_logins).toBe(2);
    // ...the third locks the account and ends the session.
    const locking = await change('guess three');
    expect(locking.statusCode).toBe(303);
    expect(locking.headers.location).toBe('/portal/login?notice=account-locked');
    expect((await thief.get('/portal/login?notice=account-locked')).body).toContain('the account is locked');
    expect((await thief.get('/portal/account')).statusCode).toBe(303);
    const row = (await h.repositories.users.findById(id))!;
    expect(row.locked_until!.getTime()).toBeGreaterThan(Date.now() + 14 * 60_000);
    expect(await h.deps.hasher.verify(PASSWORD, row.password_hash)).toBe(true);
    // Locked like after failed sign-ins: the right password does not sign in either.
    expect((await new PortalClient(h.app, '10.3.1.2').login(email, PASSWORD)).statusCode).toBe(401);
    const failures = (await h.repositories.audit.list({ domain: 'beta', limit: 50 })).filter(
      (e) => e.action === 'user.password_change_failed' && e.target_id === String(id),
    );
    expect(failures.map((e) => (e.details as { reason: string }).reason).sort()).toEqual([
      'wrong_password',
      'wrong_password',
      'wrong_password_locked',
    ]);
    expect(failures.every((e) => e.ip === '10.3.1.1')).toBe(true);
  });

  it('counts wrong current passwords against the address too (429 at the field)', async () => {
    // ip_max_failures is 6 here: a session holder's guesses use up the address's window.
    const email = 'spray@beta.test';
    await h.repositories.users.create({
      email,
      password_hash: await h.deps.hasher.hash(PASSWORD),
      role: 'user',
      domain: 'beta',
      client_id: h.seed.clients.b1,
    });
    const holder = await PortalClient.signedIn(h.app, email, PASSWORD, '10.3.2.1');
    const guesser = new PortalClient(h.app, '10.3.2.1');
    await guesser.get('/portal/login');
    for (let i = 0; i < 6; i++) await guesser.post('/portal/login', { email: `nobody${i}@beta.test`, password: 'x' });
    await holder.get('/portal/account');
    const throttled = await holder.post('/portal/account/password', {
      current_password: PASSWORD,
      new_password: 'a brand new password',
      confirm_password: 'a brand new password',
    });
    expect(throttled.statusCode).toBe(429);
    expect(throttled.body).toContain('Too many failed sign-ins from this address');
  });

  it('ends the sessions of a user an admin disables', async () => {
    const victim = await PortalClient.signedIn(h.app, 'user@alpha.test', PASSWORD, '10.2.2.1');
    const admin = await PortalClient.signedIn(h.app, 'admin@alpha.test', PASSWORD, '10.2.2.2');
    const id = h.seed.users.userAlpha.id;
    expect((await admin.submit(`/portal/admin/users/${id}`, `/portal/admin/users/${id}/disable`, {})).statusCode).toBe(
      303,
    );
    expect((await victim.get('/portal/messages')).statusCode).toBe(303);
    expect((await new PortalClient(h.app, '10.2.2.3').login('user@alpha.test', PASSWORD)).statusCode).toBe(401);
    expect((await admin.submit(`/portal/admin/users/${id}`, `/portal/admin/users/${id}/enable`, {})).statusCode).toBe(
      303,
    );
    expect((await new PortalClient(h.app, '10.2.2.3').login('user@alpha.test', PASSWORD)).statusCode).toBe(303);
  });
});

describe('CSRF and headers', () => {
  it('refuses a form post without its token (403) and one without the session cookie (401), doing nothing', async () => {
    const admin = await PortalClient.signedIn(h.app, 'admin@beta.test', PASSWORD, '10.3.0.1');
    await admin.get('/portal/admin/users/new');
    const form = { email: 'csrf-victim@beta.test', role: 'admin', domain: 'beta' };
    const noToken = await admin.post('/portal/admin/users', form, { csrf: false });
    expect(noToken.statusCode).toBe(403);
    expect(noToken.body).toContain('The form has expired or did not come from this site');
    const forged = await admin.post('/portal/admin/users', { ...form, _csrf: 'forged-token' }, { csrf: false });
    expect(forged.statusCode).toBe(403);
    // Cross-site: SameSite=Strict keeps the browser from sending either cookie.
    const crossSite = await h.app.inject({
      method: 'POST',
      url: '/portal/admin/users',
      payload: new URLSearchParams({ ...form, _csrf: admin.csrf }).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(crossSite.statusCode).toBe(401);
    expect((await h.repositories.users.findAccounts('csrf-victim@beta.test'))[0]).toBeUndefined();
    // Sign-in is protected too (login CSRF).
    expect(
      (
        await new PortalClient(h.app, '10.3.0.2').post(
          '/portal/login',
          { email: 'user@beta.test', password: PASSWORD },
          { csrf: false },
        )
      ).statusCode,
    ).toBe(403);
  });

  it('sends a strict CSP and the usual security headers, and never lets pages be cached', async () => {
    const response = await new PortalClient(h.app).get('/portal/login');
    const csp = String(response.headers['content-security-policy']);
    for (const directive of [
      "default-src 'none'",
      "script-src 'self'",
      "style-src 'self'",
      "frame-ancestors 'none'",
      "form-action 'self'",
      "base-uri 'none'",
      "object-src 'none'",
    ])
      expect(csp).toContain(directive);
    expect(csp).not.toContain('unsafe-inline');
    expect(response.headers['x-content-type-options']).toBe('nosniff');
    expect(response.headers['strict-transport-security']).toMatch(/max-age=\d+/);
    expect(response.headers['referrer-policy']).toBe('same-origin');
    expect(response.headers['cache-control']).toBe('no-store');
    const asset = await h.app.inject({ method: 'GET', url: '/portal/assets/portal.js' });
    expect(asset.statusCode).toBe(200);
    expect(asset.headers['cache-control']).toMatch(/max-age=86400/);
    expect((await h.app.inject({ method: 'GET', url: '/portal/assets/../../package.json' })).statusCode).toBe(404);
    expect((await h.app.inject({ method: 'GET', url: '/portal/assets/css/bootstrap.css.map' })).statusCode).toBe(404);
  });

  it('leaves the API as it was: JSON errors, no cookies, no portal headers', async () => {
    const missing = await h.app.inject({ method: 'GET', url: '/api/v1/nothing' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ error_code: 'NOT_FOUND' });
    expect(missing.headers['content-security-policy']).toBeUndefined();
    const form = await h.app.inject({
      method: 'POST',
      url: '/api/v1/messages',
      payload: 'a=b',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(form.statusCode).toBe(401);
    expect(form.json()).toMatchObject({ error_code: 'UNAUTHORIZED', tracking_id: expect.any(String) });
    expect(form.headers['set-cookie']).toBeUndefined();
  });
});
