/**
 * The live portal in Chromium (issue #21): an admin's open message list and overview show
 * a new message and its delivery without a reload; a user's list never shows another
 * client's message, and does show its own client's; a page that loses its socket says so.
 * Skipped where Debian's Chromium is not installed (as portal.browser.e2e.test.ts).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BrokerProcess,
  createWorkspace,
  demoBundle,
  firstAdminCredentials,
  mtlsAgent,
  postJson,
  type ClientBundle,
  type Workspace,
} from '../support/broker-harness.js';
import { runCli, runCliJson } from '../support/mb-cli.js';

const CHROMIUM = '/usr/bin/chromium';
const STEP_TIMEOUT = 120_000;
const USER = { email: 'gw-user@example.test', password: 'a long passphrase for the gateway user' };

let workspace: Workspace;
let broker: BrokerProcess;
let browser: Browser;
let gateway: ClientBundle;

const url = (path: string) => `${broker.url}${path}`;

async function submit(bundle: ClientBundle, body: string): Promise<string> {
  const agent = mtlsAgent(bundle);
  try {
    const response = await postJson(agent, broker.url, { sender_number: '+14155550123', message_body: body });
    expect(response.status).toBe(202);
    return response.body.message_id as string;
  } finally {
    await agent.close();
  }
}

async function signIn(page: Page, email: string, password: string): Promise<void> {
  await page.goto(url('/portal/login'));
  await page.fill('#email', email);
  await page.fill('#password', password);
  await page.click('button[type=submit]');
  await page.waitForURL(/\/portal\/(admin|messages)$/);
}

/** The page is live (its socket subscribed), and marked: a reload would lose the mark. */
async function liveAndMarked(page: Page): Promise<void> {
  await page.waitForSelector('[data-testid=live-status][data-state=live]');
  await page.evaluate(() => {
    (globalThis as unknown as { mbMark: number }).mbMark = 42;
  });
}

const stillMarked = (page: Page) => page.evaluate(() => (globalThis as unknown as { mbMark?: number }).mbMark === 42);

describe.skipIf(!existsSync(CHROMIUM))('live portal in Chromium', () => {
  beforeAll(async () => {
    workspace = await createWorkspace();
    broker = new BrokerProcess(workspace);
    await broker.start();
    const issued = await runCliJson<{ files: { cert: string; key: string; ca: string } }>(
      ['client', 'issue', 'gw', '--domain', 'default', '--out', join(workspace.dir, 'gw')],
      workspace.configPath,
    );
    const read = (path: string) => readFileSync(path, 'utf8');
    gateway = { cert: read(issued.files.cert), key: read(issued.files.key), ca: read(issued.files.ca) };
    const added = await runCli(['user', 'add', USER.email, '--role', 'user', '--domain', 'default', '--client', 'gw'], {
      configPath: workspace.configPath,
      input: `${USER.password}\n`,
    });
    expect(added.code, added.stderr).toBe(0);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking'],
    });
  }, STEP_TIMEOUT);

  afterAll(async () => {
    await browser?.close();
    await broker?.kill('SIGKILL');
    await workspace?.cleanup();
  });

  it(
    "shows a new message and its delivery on an admin's open list and overview, without a reload",
    async () => {
      const context = await browser.newContext({ ignoreHTTPSErrors: true });
      const page = await context.newPage();
      await signIn(page, 'admin@localhost', firstAdminCredentials(broker.output)!.password);
      await page.goto(url('/portal/messages'));
      await liveAndMarked(page);
      const id = await submit(demoBundle(workspace), 'live list check');
      const row = page.locator(`tr[data-href$="/messages/${id}"]`);
      await row.waitFor({ timeout: 10_000 });
      await expect.poll(() => row.locator('.cell-status').textContent(), { timeout: 10_000 }).toContain('delivered');
      expect(await stillMarked(page)).toBe(true);

      await page.goto(url('/portal/admin'));
      await liveAndMarked(page);
      const before = await page.textContent('main');
      await submit(demoBundle(workspace), 'live overview check');
      await expect.poll(() => page.textContent('main'), { timeout: 10_000 }).not.toBe(before);
      expect(await stillMarked(page)).toBe(true);
      await context.close();
    },
    STEP_TIMEOUT,
  );

  it(
    "never shows another client's message on a user's page, and does show its own client's",
    async () => {
      const context = await browser.newContext({ ignoreHTTPSErrors: true });
      const page = await context.newPage();
      await signIn(page, USER.email, USER.password);
      await page.goto(url('/portal/messages'));
      await liveAndMarked(page);
      const other = await submit(demoBundle(workspace), 'not for the gateway user');
      const own = await submit(gateway, 'for the gateway user');
      await page.locator(`tr[data-href$="/messages/${own}"]`).waitFor({ timeout: 10_000 });
      expect(await page.locator(`tr[data-href$="/messages/${other}"]`).count()).toBe(0);
      expect(await page.textContent('main')).not.toContain('not for the gateway user');
      expect(await stillMarked(page)).toBe(true);

      // The broker goes away: the page says so (and keeps trying).
      await broker.kill('SIGKILL');
      await page.waitForSelector('[data-testid=live-status][data-state=lost]', { timeout: 10_000 });
      expect(await page.textContent('[data-testid=live-status]')).toContain('reconnecting');
      await context.close();
    },
    STEP_TIMEOUT,
  );
});
