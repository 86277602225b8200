/**
 * Accounts are per tenant (#17 item 7), against a running broker over HTTPS: the first
 * superadmin makes an admin for each of two domains; each admin creates an account for the
 * same email in their own domain (both succeed, answered alike); each account signs in to
 * its own tenant, with or without the domain field, and sees only that tenant. A tenant
 * account with the first superadmin's email leaves the superadmin's sign-in alone.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BrokerProcess,
  createWorkspace,
  firstAdminCredentials,
  mtlsAgent,
  type Workspace,
} from '../support/broker-harness.js';
import { HttpsPortalClient, type PortalPage } from '../support/portal-https.js';

const ADMINS = {
  default: { email: 'admin@default.test', password: 'a long passphrase for default' },
  other: { email: 'admin@other.test', password: 'a long passphrase for other' },
} as const;
const SHARED = 'same.person@example.test';

let workspace: Workspace;
let broker: BrokerProcess;
let agent: Agent;
let root: HttpsPortalClient;
const admins = {} as Record<keyof typeof ADMINS, HttpsPortalClient>;

beforeAll(async () => {
  workspace = await createWorkspace({ domains: [{ name: 'default' }, { name: 'other' }] });
  broker = new BrokerProcess(workspace);
  await broker.start();
  agent = mtlsAgent({ ca: readFileSync(join(workspace.dir, 'certs/ca.crt'), 'utf8') });
  root = await HttpsPortalClient.signedInAsFirstAdmin(broker.url, agent, broker.output);
  for (const [domain, admin] of Object.entries(ADMINS) as Array<[keyof typeof ADMINS, (typeof ADMINS)['default']]>) {
    await root.get('/portal/admin/users/new');
    const made = await root.post('/portal/admin/users', { ...admin, role: 'admin', domain, client: '' });
    expect(made.statusCode, domain).toBe(303);
    admins[domain] = await HttpsPortalClient.signedIn(broker.url, agent, admin.email, admin.password);
  }
});

afterAll(async () => {
  await agent?.close();
  await broker?.kill('SIGKILL');
  await workspace?.cleanup();
});

/** Signs in through the form, with the optional domain field; the client and the answer. */
async function signIn(email: string, password: string, domain?: string) {
  const client = new HttpsPortalClient(broker.url, agent);
  await client.get(`/portal/login${domain === undefined ? '' : `?domain=${encodeURIComponent(domain)}`}`);
  const answer = await client.post('/portal/login', { email, password, ...(domain === undefined ? {} : { domain }) });
  return { client, answer };
}

/** An admin account made by a domain admin; the page and the one-time password. */
async function createAdmin(admin: HttpsPortalClient, email: string): Promise<{ page: PortalPage; password: string }> {
  await admin.get('/portal/admin/users/new');
  const page = await admin.post('/portal/admin/users', { email, role: 'admin', password: '' });
  return { page, password: /id="new-password" value="([^"]+)"/.exec(page.body)?.[1] ?? '' };
}

const normalized = (page: PortalPage, email: string, password: string) =>
  page.body
    .replaceAll(email, 'EMAIL')
    .replaceAll(password, 'PASSWORD')
    .replace(/\/admin\/users\/\d+"/g, '/admin/users/ID"')
    .replace(/name="_csrf" value="[^"]*"/g, '')
    .replace(/<meta name="csrf-token" content="[^"]*"/g, '');

describe('the same email in two tenants, over HTTPS', () => {
  const passwords = { default: '', other: '' };

  it('is created by both domain admins, each answered like any other creation', async () => {
    for (const domain of ['default', 'other'] as const) {
      const shared = await createAdmin(admins[domain], SHARED);
      const control = await createAdmin(admins[domain], `only.${domain}@example.test`);
      expect(shared.page.statusCode, domain).toBe(200);
      expect(normalized(shared.page, SHARED, shared.password)).toBe(
        normalized(control.page, `only.${domain}@example.test`, control.password),
      );
      passwords[domain] = shared.password;
    }
    expect(passwords.default).not.toBe(passwords.other);
  });

  it('signs each account in to its own tenant, with or without the domain, and shows only that tenant', async () => {
    // The default domain has the demo client; the other domain has none.
    for (const [domain, other] of [
      ['default', 'other'],
      ['other', 'default'],
    ] as const) {
      for (const typed of [undefined, domain]) {
        const { client, answer } = await signIn(SHARED, passwords[domain], typed);
        expect(answer.statusCode, `${domain} ${typed}`).toBe(303);
        expect((await client.get('/portal/account')).body).toContain(domain);
        const clients = await client.get('/portal/admin/clients');
        expect(clients.statusCode).toBe(200);
        if (domain === 'default') expect(clients.body).toContain('>demo</a>');
        else expect(clients.body).not.toContain('>demo</a>');
        const users = (await client.get('/portal/admin/users')).body;
        expect(users).toContain(ADMINS[domain].email);
        expect(users).not.toContain(ADMINS[other].email);
      }
      expect((await signIn(SHARED, passwords[domain], other)).answer.statusCode).toBe(401);
    }
  });

  it("leaves the first superadmin's sign-in alone when a tenant makes an account with that email", async () => {
    const first = firstAdminCredentials(broker.output)!;
    expect((await createAdmin(admins.other, first.email)).page.statusCode).toBe(200);
    const { client, answer } = await signIn(first.email, first.password);
    expect(answer.statusCode).toBe(303);
    // Still the superadmin: every domain's admins are listed.
    const users = (await client.get('/portal/admin/users')).body;
    expect(users).toContain(ADMINS.default.email);
    expect(users).toContain(ADMINS.other.email);
    // The sign-in page with a domain in its address fills the field in.
    expect((await client.get('/portal/login?domain=other')).statusCode).toBe(303); // signed in: sent on
    const page = await new HttpsPortalClient(broker.url, agent).get('/portal/login?domain=other');
    expect(page.body).toMatch(/id="domain" name="domain" value="other"/);
  });
});
