/**
 * Issue #17: a domain admin cannot mint a metrics identity through the portal, not even in
 * the scraper's own domain (which accepts no messages); a superadmin can.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PortalClient } from '../support/portal-client.js';
import { PASSWORD, startPortalHarness, type PortalHarness } from '../support/portal-harness.js';

let h: PortalHarness;
let adminOps: PortalClient;
let root: PortalClient;

beforeAll(async () => {
  h = await startPortalHarness({
    values: {
      metrics: { client_names: ['metrics.ops'] },
      domains: [
        { name: 'alpha', target: { type: 'webhook', url: 'https://127.0.0.1:9/hook', secret: 'test-secret' } },
        { name: 'beta', target: { type: 'store' } },
        { name: 'ops', active: false },
      ],
    },
  });
  await h.repositories.users.create({
    email: 'admin@ops.test',
    password_hash: await h.deps.hasher.hash(PASSWORD),
    role: 'admin',
    domain: 'ops',
    client_id: null,
  });
  adminOps = await PortalClient.signedIn(h.app, 'admin@ops.test');
  root = await PortalClient.signedIn(h.app, h.seed.users.root.email);
});
afterAll(() => h?.close());

const issue = async (client: PortalClient, form: Record<string, string>) => {
  await client.get('/portal/admin/certificates/new');
  return client.post('/portal/admin/certificates', { days: '90', ...form });
};

describe('metrics identities in the portal', () => {
  it('a domain admin is refused, with the reason on the form; other names in their domain are theirs', async () => {
    const refused = await issue(adminOps, { name: 'metrics' });
    expect(refused.statusCode).toBe(403);
    expect(refused.body).toContain('reserved for metrics scrapers');
    expect(await h.repositories.clients.findByNameAndDomain('metrics', 'ops')).toBeFalsy();
    expect((await issue(adminOps, { name: 'probe' })).statusCode).toBe(200);
  });

  it('a superadmin issues it; the domain admin cannot renew it either', async () => {
    const issued = await issue(root, { name: 'metrics', domain: 'ops' });
    expect(issued.statusCode).toBe(200);
    expect(issued.body).toContain('metrics.ops');
    const renewed = await issue(adminOps, { client: 'metrics@ops' });
    expect(renewed.statusCode).toBe(403);
    expect(renewed.body).toContain('reserved for metrics scrapers');
  });
});
