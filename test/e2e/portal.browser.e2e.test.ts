/**
 * The portal in a real browser: Debian's Chromium driven by playwright-core against the
 * real supervisor (child process, real TLS, default scrypt cost). What a newcomer does
 * after `npm start`: sign in with the printed admin password, see and filter the demo
 * messages, open one, issue a client certificate, download it, send with it, revoke it
 * (the broker refuses it from then on), sign out. Also: a cross-site form post is
 * refused, the old cookie is dead after sign-out, and screenshots of the main pages land
 * in test-artifacts/portal/.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SESSION_COOKIE } from '../../src/portal/session-tokens.js';
import {
  BrokerProcess,
  ROOT,
  firstAdminCredentials,
  createWorkspace,
  demoBundle,
  mtlsAgent,
  postJson,
  waitUntil,
  type Workspace,
} from '../support/broker-harness.js';

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = join(ROOT, 'test-artifacts/portal');
const STEP_TIMEOUT = 120_000;
const READER_ZONE = new Date().getUTCHours() < 10 ? 'Pacific/Pago_Pago' : 'Pacific/Kiritimati';

let workspace: Workspace;
let broker: BrokerProcess;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let adminPassword: string;
let crossSite: Server;
const downloads = mkdtempSync(join(tmpdir(), 'mb-downloads-'));

const url = (path: string) => `${broker.url}${path}`;
const shot = (name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });

describe.skipIf(!existsSync(CHROMIUM))('portal in Chromium', () => {
  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    workspace = await createWorkspace();
    broker = new BrokerProcess(workspace);
    await broker.start();
    adminPassword = firstAdminCredentials(broker.output)!.password;
    // The demo client sends a few messages, as a newcomer's curl would.
    const agent = mtlsAgent(demoBundle(workspace));
    try {
      for (let i = 0; i < 12; i++) {
        const sender = i % 3 === 0 ? '+447700900123' : `+1415555${String(2000 + i)}`;
        const response = await postJson(agent, broker.url, {
          sender_number: sender,
          message_body: `Hello from the broker #${i} — your code is ${400100 + i}`,
          metadata: { ref: `R-${i}` },
        });
        expect(response.status).toBe(202);
      }
    } finally {
      await agent.close();
    }
    // launch() gives Chromium a fresh temporary profile (user-data-dir) and removes it on close.
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    context = await browser.newContext({
      ignoreHTTPSErrors: true,
      viewport: { width: 1366, height: 900 },
      acceptDownloads: true,
      // A zone whose date is not UTC's at this hour (UTC−11 before 10:00 UTC, UTC+14 after):
      // the date filters are the reader's days, as the times shown are.
      timezoneId: READER_ZONE,
    });
    page = await context.newPage();
    page.on('dialog', (dialog) => void dialog.accept());
  }, STEP_TIMEOUT);

  afterAll(async () => {
    await browser?.close();
    crossSite?.close();
    await broker?.kill('SIGKILL');
    await workspace?.cleanup();
    rmSync(downloads, { recursive: true, force: true });
  });

  it(
    'names the first admin and its password file, and signs in with it',
    async () => {
      expect(broker.output).toMatch(/email: +admin@localhost/);
      expect(broker.output).not.toContain(adminPassword); // stdout is a pipe: only the file's path
      await page.goto(url('/'));
      await page.waitForURL(/\/portal\/login/);
      await shot('01-login');
      await page.fill('#email', 'admin@localhost');
      await page.fill('#password', 'not the password');
      await page.click('button[type=submit]');
      await expect.poll(() => page.textContent('[data-testid=login-error]')).toContain('Wrong email or password');
      await page.fill('#password', adminPassword);
      await page.click('button[type=submit]');
      await page.waitForURL(/\/portal\/admin$/);
      expect(await page.textContent('h1')).toBe('Overview');
      await shot('02-overview');
    },
    STEP_TIMEOUT,
  );

  it(
    'lists the demo messages, filters them by sender and status, and opens one',
    async () => {
      await waitUntil(
        async () => {
          await page.goto(url('/portal/messages'));
          return (await page.locator('table[data-testid=messages] tbody tr').count()) === 12;
        },
        20_000,
        'the demo messages to be stored',
      );
      expect(await page.textContent('table[data-testid=messages]')).toContain('Hello from the broker #11');
      expect(await page.content()).not.toContain('+447700900123');
      await shot('03-messages');

      await page.fill('#sender', '+447700900123');
      await page.selectOption('#status', 'delivered');
      await page.click('[data-testid=filters] button[type=submit]');
      await page.waitForURL(/sh=[0-9a-f]{64}/);
      expect(page.url()).not.toContain('7700900123');
      expect(await page.locator('table[data-testid=messages] tbody tr').count()).toBe(4);
      expect(await page.textContent('[data-testid=sender-filter]')).toContain('+447*****0123');
      expect(page.url()).toContain(`tz=${encodeURIComponent(READER_ZONE)}`);
      // Today in the browser's zone (another day than UTC's) holds the messages just sent.
      const today = await page.evaluate(() => new Date().toLocaleDateString('sv'));
      await page.fill('#from', today);
      await page.fill('#to', today);
      await page.click('[data-testid=filters] button[type=submit]');
      await page.waitForURL(new RegExp(`from=${today}&to=${today}`));
      expect(await page.locator('table[data-testid=messages] tbody tr').count()).toBe(4);
      expect(await page.textContent('[data-testid=date-zone]')).toContain(`days in ${READER_ZONE}`);
      await shot('04-messages-filtered');

      await page.click('table[data-testid=messages] tbody tr:first-child a');
      await page.waitForURL(/\/portal\/messages\/[0-9a-f-]{36}$/);
      expect(await page.textContent('[data-testid=body]')).toBe('Hello from the broker #9 — your code is 400109');
      await shot('05-message');
    },
    STEP_TIMEOUT,
  );

  it(
    'issues a certificate, downloads it once, and the new client can send with it',
    async () => {
      await page.goto(url('/portal/admin/clients'));
      await page.fill('[data-testid=new-client] #name', 'browser-gw');
      await page.click('[data-testid=new-client] button[type=submit]');
      await page.waitForSelector('[data-testid=download]');
      await shot('06-certificate-issued');
      const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid=download]')]);
      expect(download.suggestedFilename()).toBe('browser-gw.default.zip');
      const zip = join(downloads, 'bundle.zip');
      await download.saveAs(zip);
      execFileSync('unzip', ['-qq', '-o', zip], { cwd: downloads });
      const dir = join(downloads, 'browser-gw.default');
      const bundle = {
        cert: readFileSync(join(dir, 'client.crt'), 'utf8'),
        key: readFileSync(join(dir, 'client.key'), 'utf8'),
        ca: readFileSync(join(dir, 'ca.crt'), 'utf8'),
      };
      const agent = mtlsAgent(bundle, 1);
      try {
        const sent = await postJson(agent, broker.url, {
          sender_number: '+14155550000',
          message_body: 'sent with a certificate from the portal',
        });
        expect(sent.status).toBe(202);
        expect(sent.body.client_id).toBe('browser-gw.default');
      } finally {
        await agent.close();
      }
      (globalThis as { issuedBundle?: typeof bundle }).issuedBundle = bundle;
    },
    STEP_TIMEOUT,
  );

  it(
    'revokes the certificate with a reason; the broker refuses it from then on',
    async () => {
      const serial = (await page.textContent('[data-testid=serial]'))!.trim();
      await page.goto(url(`/portal/admin/certificates/${serial}`));
      await shot('07-certificate');
      await page.selectOption('#reason', 'keyCompromise');
      await page.click('[data-testid=revoke]');
      await page.waitForURL(/notice=certificate-revoked/);
      expect(await page.textContent('[data-testid=cert-status]')).toBe('revoked');
      const bundle = (globalThis as { issuedBundle?: { cert: string; key: string; ca: string } }).issuedBundle!;
      await waitUntil(
        async () => {
          const agent = mtlsAgent(bundle, 1);
          try {
            const response = await postJson(agent, broker.url, {
              sender_number: '+14155550000',
              message_body: 'after revocation',
            });
            return response.status === 403 && response.body.error_code === 'CERT_REVOKED';
          } catch {
            return true; // the handshake itself fails against the new CRL
          } finally {
            await agent.close();
          }
        },
        15_000,
        'the revoked certificate to be refused',
      );
      await page.goto(url('/portal/admin/certificates'));
      await shot('08-certificates');
    },
    STEP_TIMEOUT,
  );

  it(
    'shows the other admin pages',
    async () => {
      for (const [name, path] of [
        ['09-users', '/portal/admin/users'],
        ['10-clients', '/portal/admin/clients'],
        ['11-audit', '/portal/admin/audit'],
        ['12-user-new', '/portal/admin/users/new'],
        ['13-account', '/portal/account'],
      ] as const) {
        await page.goto(url(path));
        expect(await page.locator('h1').count()).toBeGreaterThan(0);
        await shot(name);
      }
      expect(await page.content()).toContain('admin@localhost');
      await page.setViewportSize({ width: 390, height: 844 });
      await page.goto(url('/portal/messages'));
      await shot('14-messages-phone');
      await page.setViewportSize({ width: 1366, height: 900 });
    },
    STEP_TIMEOUT,
  );

  it(
    'reloads the config from the overview (the same as SIGHUP) and says there was nothing to change',
    async () => {
      await page.goto(url('/portal/admin'));
      await page.getByTestId('reload-config').click();
      await page.waitForURL(/notice=config-unchanged/);
      expect(await page.content()).toContain('The config file has no changes to apply.');
      await shot('15-overview-reloaded');
    },
    STEP_TIMEOUT,
  );

  it(
    'refuses a cross-site form post and a same-site post without the CSRF token',
    async () => {
      // Another site (another origin and site: 127.0.0.1 over http) auto-submits a form at the portal.
      crossSite = createServer((_req, res) => {
        res.setHeader('content-type', 'text/html');
        res.end(
          `<!doctype html><form id="f" method="post" action="${url('/portal/admin/users')}"><input name="email" value="evil@example.test"><input name="role" value="superadmin"><input name="password" value="evil password 123"></form><script>document.getElementById('f').submit()</script>`,
        );
      });
      await new Promise<void>((resolve) => crossSite.listen(0, '127.0.0.1', resolve));
      const address = crossSite.address() as { port: number };
      const evil = await context.newPage();
      await evil.goto(`http://127.0.0.1:${address.port}/`);
      await evil.waitForURL(/\/portal\/admin\/users$/);
      await evil.waitForLoadState();
      // SameSite=Strict: the browser sent no session cookie, so the portal asked for a sign-in.
      expect(await evil.textContent('[data-testid=error-message]')).toContain('Sign in to continue');
      await evil.close();

      const status = await page.evaluate(async () => {
        const r = await fetch('/portal/admin/users', {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: 'email=evil2%40example.test&role=superadmin&password=evil+password+123',
        });
        return r.status;
      });
      expect(status).toBe(403);
      await page.goto(url('/portal/admin/users'));
      const users = await page.textContent('table[data-testid=users]');
      expect(users).not.toContain('evil@example.test');
      expect(users).not.toContain('evil2@example.test');
    },
    STEP_TIMEOUT,
  );

  it(
    'signs out; the old session cookie is refused afterwards',
    async () => {
      const cookie = (await context.cookies(broker.url)).find((c) => c.name === SESSION_COOKIE)!;
      expect(cookie).toMatchObject({ httpOnly: true, secure: true, sameSite: 'Strict', path: '/' });
      await page.click('.navbar .dropdown-toggle');
      await page.click('[data-testid=logout]');
      await page.waitForURL(/\/portal\/login\?notice=signed-out/);
      expect((await context.cookies(broker.url)).find((c) => c.name === SESSION_COOKIE)).toBeUndefined();

      // The stolen cookie, replayed from a fresh browser and from outside one.
      const replay = await browser.newContext({ ignoreHTTPSErrors: true });
      await replay.addCookies([
        {
          name: SESSION_COOKIE,
          value: cookie.value,
          url: broker.url,
          secure: true,
          httpOnly: true,
          sameSite: 'Strict',
        },
      ]);
      const replayPage = await replay.newPage();
      await replayPage.goto(url('/portal/admin/users'));
      expect(replayPage.url()).toMatch(/\/portal\/login\?notice=session-expired/);
      await replay.close();
      const direct = await request(url('/portal/messages'), {
        headers: { cookie: `${SESSION_COOKIE}=${cookie.value}` },
        dispatcher: mtlsAgent({ ca: demoBundle(workspace).ca }),
      });
      expect(direct.statusCode).toBe(303);
      await direct.body.dump();
    },
    STEP_TIMEOUT,
  );
});
