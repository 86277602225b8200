/**
 * The tenant × role matrix where test/portal/tenancy.portal.test.ts leaves off: the
 * admin API's write routes (issue, renew, revoke by client and by serial, client
 * disable/enable),
 * and the message list when a user or admin tries to widen it — by naming another
 * domain or client in the query, or by searching for another tenant's sender number.
 * Outside one's scope the API answers 403 (domain named) or 404 (object of another
 * domain), the pages show nothing of the other tenant, and nothing changes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SESSION_COOKIE } from '../../src/portal/session-tokens.js';
import { signInSeededUsers, type SeededTenant, type SignedInActor } from '../support/portal-client.js';
import { startPortalHarness, type PortalHarness } from '../support/portal-harness.js';

type Tenant = SeededTenant;
type Actor = SignedInActor;

const SENDER = { alpha: '+14155550171', beta: '+14155550172' };
const BODY = { alpha: 'alpha tenant only', beta: 'beta tenant only' };

let h: PortalHarness;
let actors: Actor[];
/** Per tenant: a client with an active certificate that every test leaves alone unless allowed. */
const targets = {} as Record<Tenant, { name: string; serial: string }>;

beforeAll(async () => {
  h = await startPortalHarness();
  for (const tenant of ['alpha', 'beta'] as const) {
    const name = `vault-${tenant}`;
    const issued = await h.deps.actors.ca.call('ca.issue', { name, domain: tenant, actor: 'test' });
    targets[tenant] = { name, serial: issued.serial };
    await h.addMessages(tenant === 'alpha' ? h.seed.clients.a1 : h.seed.clients.b1, tenant, [
      { body: BODY[tenant], sender: SENDER[tenant] },
    ]);
  }
  actors = await signInSeededUsers(h.app);
});

afterAll(async () => {
  await h?.close();
});

const administers = (actor: Actor, tenant: Tenant) =>
  actor.role === 'superadmin' || (actor.role === 'admin' && actor.tenant === tenant);

function api(actor: Actor, url: string, payload: Record<string, unknown>) {
  return h.app.inject({
    method: 'POST',
    url,
    headers: {
      'content-type': 'application/json',
      cookie: `${SESSION_COOKIE}=${actor.client.cookies.get(SESSION_COOKIE)}`,
    },
    payload,
  });
}

async function certificateStatus(serial: string): Promise<string | undefined> {
  return (await h.repositories.certificates.findBySerial(serial))?.status;
}

describe('certificate admin API writes, role × tenant', () => {
  it('issues a client only in a domain the caller administers', async () => {
    for (const actor of actors) {
      for (const tenant of ['alpha', 'beta'] as const) {
        const name = `made-by-${actor.label.replace(/[^a-z]/g, '')}-${tenant}`;
        const response = await api(actor, '/api/v1/admin/clients', { name, domain: tenant });
        const allowed = administers(actor, tenant);
        expect(response.statusCode, `${actor.label} issue in ${tenant}`).toBe(allowed ? 201 : 403);
        if (!allowed) expect(response.body).not.toContain('PRIVATE KEY');
        expect(
          Boolean(await h.repositories.clients.findByNameAndDomain(name, tenant)),
          `${actor.label} issue in ${tenant}`,
        ).toBe(allowed);
      }
    }
  });

  it('renews and revokes by client name only in the own domain; another domain named is 403', async () => {
    for (const actor of actors.filter((a) => a.role !== 'superadmin')) {
      for (const tenant of ['alpha', 'beta'] as const) {
        if (administers(actor, tenant)) continue;
        const { name, serial } = targets[tenant];
        const renew = await api(actor, `/api/v1/admin/clients/${name}/renew`, { domain: tenant });
        expect(renew.statusCode, `${actor.label} renew ${tenant}`).toBe(403);
        const revoke = await api(actor, `/api/v1/admin/clients/${name}/revoke`, {
          domain: tenant,
          reason: 'keyCompromise',
        });
        expect(revoke.statusCode, `${actor.label} revoke ${tenant}`).toBe(403);
        // Without a domain an admin acts in their own, where no such client exists.
        const unscoped = await api(actor, `/api/v1/admin/clients/${name}/revoke`, { reason: 'keyCompromise' });
        expect([403, 404], `${actor.label} revoke ${tenant} without domain`).toContain(unscoped.statusCode);
        expect(await certificateStatus(serial)).toBe('active');
      }
    }
  });

  it("revokes by serial only in the own domain: another domain's serial is 404", async () => {
    for (const actor of actors.filter((a) => a.role !== 'superadmin')) {
      for (const tenant of ['alpha', 'beta'] as const) {
        if (administers(actor, tenant)) continue;
        const { serial } = targets[tenant];
        const response = await api(actor, `/api/v1/admin/certificates/${serial}/revoke`, { reason: 'keyCompromise' });
        expect(response.statusCode, `${actor.label} revoke ${tenant} serial`).toBe(actor.role === 'user' ? 403 : 404);
        const named = await api(actor, `/api/v1/admin/certificates/${serial}/revoke`, {
          reason: 'keyCompromise',
          domain: tenant,
        });
        expect(named.statusCode, `${actor.label} revoke ${tenant} serial naming the domain`).toBe(403);
        expect(await certificateStatus(serial)).toBe('active');
      }
    }
  });

  it('disables and enables a client only in a domain the caller administers', async () => {
    const seeded = { alpha: 'a1', beta: 'b1' } as const;
    const statusOf = async (tenant: Tenant) =>
      (await h.repositories.clients.findByNameAndDomain(seeded[tenant], tenant))?.status;
    for (const actor of actors) {
      for (const tenant of ['alpha', 'beta'] as const) {
        const name = seeded[tenant];
        const label = `${actor.label} disable ${tenant}`;
        const disable = await api(actor, `/api/v1/admin/clients/${name}/disable`, { domain: tenant });
        if (administers(actor, tenant)) {
          expect(disable.statusCode, label).toBe(200);
          expect(await statusOf(tenant), label).toBe('disabled');
          expect((await api(actor, `/api/v1/admin/clients/${name}/enable`, { domain: tenant })).statusCode).toBe(200);
        } else {
          expect(disable.statusCode, label).toBe(403);
          if (actor.role === 'admin') {
            // Without a domain an admin acts in their own, where no such client exists.
            const unscoped = await api(actor, `/api/v1/admin/clients/${name}/disable`, {});
            expect(unscoped.statusCode, `${label} without domain`).toBe(404);
          }
        }
        expect(await statusOf(tenant), label).toBe('active');
      }
    }
  });

  it('control: the superadmin revokes in any domain', async () => {
    const root = actors.find((a) => a.role === 'superadmin')!;
    for (const tenant of ['alpha', 'beta'] as const) {
      const issued = await h.deps.actors.ca.call('ca.renew', {
        name: targets[tenant].name,
        domain: tenant,
        actor: 'test',
      });
      const response = await api(root, `/api/v1/admin/certificates/${issued.serial}/revoke`, { reason: 'superseded' });
      expect(response.statusCode).toBe(200);
      expect(await certificateStatus(issued.serial)).toBe('revoked');
      expect(await certificateStatus(targets[tenant].serial)).toBe('active');
    }
  });
});

describe('message list, widened by the caller', () => {
  it("never shows another tenant's messages, whatever the query names", async () => {
    for (const actor of actors.filter((a) => a.role !== 'superadmin')) {
      const other: Tenant = actor.tenant === 'alpha' ? 'beta' : 'alpha';
      const otherClient = other === 'alpha' ? h.seed.clients.a1 : h.seed.clients.b1;
      for (const query of [
        `domain=${other}`,
        `client=${otherClient}`,
        `client_id=${otherClient}`,
        `domain=${other}&domain=${actor.tenant}`,
        `domain[]=${other}`,
      ]) {
        const response = await actor.client.get(`/portal/messages?${query}`);
        expect(response.statusCode, `${actor.label} ?${query}`).toBeLessThan(500);
        expect(response.body, `${actor.label} ?${query}`).not.toContain(BODY[other]);
      }
    }
  });

  it("finds nothing when searching for another tenant's sender number", async () => {
    for (const actor of actors.filter((a) => a.role !== 'superadmin')) {
      const other: Tenant = actor.tenant === 'alpha' ? 'beta' : 'alpha';
      await actor.client.get('/portal/messages');
      const search = await actor.client.post('/portal/messages/search', {
        sender: SENDER[other],
        status: '',
        from: '',
        to: '',
      });
      expect(search.statusCode, actor.label).toBe(303);
      const results = await actor.client.get(search.headers.location as string);
      expect(results.statusCode, actor.label).toBe(200);
      expect(results.body, actor.label).not.toContain(BODY[other]);
    }
    // Control: the superadmin's search finds it.
    const root = actors.find((a) => a.role === 'superadmin')!;
    await root.client.get('/portal/messages');
    const search = await root.client.post('/portal/messages/search', {
      sender: SENDER.beta,
      status: '',
      from: '',
      to: '',
      domain: '',
    });
    expect((await root.client.get(search.headers.location as string)).body).toContain(BODY.beta);
  });
});
