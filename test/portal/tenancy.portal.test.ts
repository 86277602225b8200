/**
 * The role × tenant matrix: every object route of the portal, requested by a user, an
 * admin and a superadmin of each tenant (alpha, beta), for objects of the own and of the
 * other tenant. Outside one's scope the answer is always 404 — never 403, never the
 * object — and a refused action changes nothing.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { domainKeys } from '../../src/queue/keys.js';
import { DeliverySchedule } from '../../src/queue/schedule.js';
import { defineScripts } from '../../src/queue/scripts.js';
import { signInSeededUsers, type SeededTenant, type SignedInActor } from '../support/portal-client.js';
import { PASSWORD, startPortalHarness, type PortalHarness } from '../support/portal-harness.js';
import { randomSerialHex } from '../../src/pki/serial.js';

type Tenant = SeededTenant;
type Actor = SignedInActor;

let h: PortalHarness;
let actors: Actor[];
/** Per tenant: objects that no actor is (so actions on them cannot end an actor's session). */
const targets = {} as Record<
  Tenant,
  { userId: number; clientId: number; clientName: string; serial: string; ownMessage: string; siblingMessage: string }
>;

beforeAll(async () => {
  h = await startPortalHarness();
  const { clients } = h.seed;
  for (const tenant of ['alpha', 'beta'] as const) {
    const clientName = `target-${tenant}`;
    const clientId = await h.repositories.clients.create({ name: clientName, domain: tenant });
    const userId = await h.repositories.users.create({
      email: `target@${tenant}.test`,
      password_hash: await h.deps.hasher.hash(PASSWORD),
      role: 'user',
      domain: tenant,
      client_id: clientId,
    });
    const serial = randomSerialHex();
    await h.repositories.certificates.insert({
      serial,
      client_id: clientId,
      fingerprint: randomBytes(32).toString('hex'),
      subject_cn: `${clientName}.${tenant}`,
      not_before: new Date(),
      not_after: new Date(Date.now() + 90 * 86_400_000),
      status: 'active',
    });
    // The seeded users see a1 (alpha) and b1 (beta); a2 is alpha's sibling client.
    const [ownMessage] = await h.addMessages(tenant === 'alpha' ? clients.a1 : clients.b1, tenant, [
      { body: `own ${tenant} body`, sender: '+14155550111' },
    ]);
    const [siblingMessage] = await h.addMessages(tenant === 'alpha' ? clients.a2 : clientId, tenant, [
      { body: `sibling ${tenant} body`, sender: '+14155550112' },
    ]);
    targets[tenant] = {
      userId,
      clientId,
      clientName,
      serial,
      ownMessage: ownMessage!,
      siblingMessage: siblingMessage!,
    };
  }
  actors = await signInSeededUsers(h.app);
});
afterAll(async () => {
  await h?.close();
});

/** May this actor administer objects of that tenant? */
const administers = (actor: Actor, tenant: Tenant) =>
  actor.role === 'superadmin' || (actor.role === 'admin' && actor.tenant === tenant);
const expectAnswer = (status: number, allowed: boolean, what: string) => {
  if (allowed) expect([200, 303], what).toContain(status);
  else expect(status, what).toBe(404);
};

describe('role × tenant matrix', () => {
  it('message detail: a user sees their client only, an admin their domain, a superadmin all', async () => {
    for (const actor of actors) {
      for (const tenant of ['alpha', 'beta'] as const) {
        for (const kind of ['ownMessage', 'siblingMessage'] as const) {
          const id = targets[tenant][kind];
          // The seeded users see the "own" message of their tenant only.
          const allowed =
            administers(actor, tenant) || (actor.role === 'user' && actor.tenant === tenant && kind === 'ownMessage');
          const response = await actor.client.get(`/portal/messages/${id}`);
          expectAnswer(response.statusCode, allowed, `${actor.label} GET ${tenant} ${kind}`);
          expect(response.body.includes(`${kind === 'ownMessage' ? 'own' : 'sibling'} ${tenant} body`)).toBe(allowed);
        }
      }
    }
  });

  it('admin pages of users, clients and certificates (GET)', async () => {
    for (const actor of actors) {
      for (const tenant of ['alpha', 'beta'] as const) {
        const t = targets[tenant];
        for (const url of [
          `/portal/admin/users/${t.userId}`,
          `/portal/admin/clients/${t.clientId}`,
          `/portal/admin/certificates/${t.serial}`,
          `/portal/admin/certificates/new?client=${t.clientId}`,
        ]) {
          const response = await actor.client.get(url);
          expectAnswer(response.statusCode, administers(actor, tenant), `${actor.label} GET ${url}`);
          if (!administers(actor, tenant)) expect(response.body).not.toContain(t.clientName);
        }
      }
    }
  });

  it('user actions (POST): access, disable, enable, unlock, reset-password', async () => {
    for (const actor of actors) {
      for (const tenant of ['alpha', 'beta'] as const) {
        const t = targets[tenant];
        for (const [verb, form] of [
          ['access', { role: 'user', domain: tenant, client: t.clientName }],
          ['disable', {}],
          ['enable', {}],
          ['unlock', {}],
          ['reset-password', {}],
        ] as const) {
          const before = await h.repositories.users.findById(t.userId);
          await actor.client.get('/portal/account');
          const response = await actor.client.post(`/portal/admin/users/${t.userId}/${verb}`, form);
          const allowed = administers(actor, tenant);
          expectAnswer(response.statusCode, allowed, `${actor.label} POST ${tenant} user ${verb}`);
          if (!allowed) expect(await h.repositories.users.findById(t.userId), `${actor.label} ${verb}`).toEqual(before);
        }
      }
    }
  });

  it('client actions (POST): disable, enable', async () => {
    for (const actor of actors) {
      for (const tenant of ['alpha', 'beta'] as const) {
        const t = targets[tenant];
        for (const verb of ['disable', 'enable']) {
          await h.repositories.clients.setStatus(t.clientId, verb === 'disable' ? 'active' : 'disabled');
          await actor.client.get('/portal/account');
          const response = await actor.client.post(`/portal/admin/clients/${t.clientId}/${verb}`, {});
          const allowed = administers(actor, tenant);
          expectAnswer(response.statusCode, allowed, `${actor.label} POST ${tenant} client ${verb}`);
          const status = (await h.repositories.clients.findById(t.clientId))!.status;
          expect(status).toBe(allowed === (verb === 'disable') ? 'disabled' : 'active');
        }
      }
    }
  });

  it('certificate actions (POST): renew, revoke — outside the scope refused before the CA is asked', async () => {
    for (const actor of actors) {
      for (const tenant of ['alpha', 'beta'] as const) {
        const t = targets[tenant];
        if (administers(actor, tenant)) {
          // Each allowed actor renews and revokes a fresh certificate of the tenant's target client.
          const issued = await h.deps.actors.ca.call('ca.renew', { name: t.clientName, domain: tenant, actor: 'test' });
          await actor.client.get('/portal/account');
          expectAnswer(
            (await actor.client.post(`/portal/admin/certificates/${issued.serial}/renew`, {})).statusCode,
            true,
            `${actor.label} renew ${tenant}`,
          );
          await actor.client.get('/portal/account');
          expectAnswer(
            (await actor.client.post(`/portal/admin/certificates/${issued.serial}/revoke`, { reason: 'superseded' }))
              .statusCode,
            true,
            `${actor.label} revoke ${tenant}`,
          );
          expect((await h.repositories.certificates.findBySerial(issued.serial))!.status).toBe('revoked');
          continue;
        }
        // Another actor's renewals may have superseded it (two certificates stay active): unchanged is the point.
        const before = await h.repositories.certificates.findBySerial(t.serial);
        for (const verb of ['renew', 'revoke']) {
          await actor.client.get('/portal/account');
          const response = await actor.client.post(`/portal/admin/certificates/${t.serial}/${verb}`, {
            reason: 'keyCompromise',
          });
          expect(response.statusCode, `${actor.label} POST ${tenant} certificate ${verb}`).toBe(404);
        }
        expect(await h.repositories.certificates.findBySerial(t.serial)).toEqual(before);
        expect((await h.repositories.certificates.listActiveForClient(t.clientId)).length).toBeLessThanOrEqual(2);
      }
    }
  });

  it('dead-letter retry (POST)', async () => {
    const schedule = new DeliverySchedule(h.redis, defineScripts(h.redis));
    for (const actor of actors) {
      for (const tenant of ['alpha', 'beta'] as const) {
        const keys = domainKeys(h.config.redis.key_prefix, h.config.domains.find((d) => d.name === tenant)!);
        const [id] = await h.addMessages(targets[tenant].clientId, tenant, [
          { body: 'dead', sender: '+14155550113', status: 'failed' },
        ]);
        await schedule.deadLetter(keys, [{ message_id: id!, attempts: 5, last_error: 'HTTP 503' }]);
        const entryId = (
          (await h.redis.xrevrange(keys.dead, '+', '-', 'COUNT', 1)) as Array<[string, string[]]>
        )[0]![0];
        await actor.client.get('/portal/account');
        const response = await actor.client.post(`/portal/admin/dead-letters/${tenant}/${entryId}/retry`, {});
        const allowed = administers(actor, tenant);
        expectAnswer(response.statusCode, allowed, `${actor.label} POST ${tenant} dead-letter retry`);
        expect((await h.repositories.messages.findOne(id!))!.status).toBe(allowed ? 'queued' : 'failed');
        await h.redis.del(keys.dead);
      }
    }
  });

  it('dead-letter redrive of a whole domain (POST)', async () => {
    const schedule = new DeliverySchedule(h.redis, defineScripts(h.redis));
    for (const actor of actors) {
      for (const tenant of ['alpha', 'beta'] as const) {
        const keys = domainKeys(h.config.redis.key_prefix, h.config.domains.find((d) => d.name === tenant)!);
        const ids = await h.addMessages(targets[tenant].clientId, tenant, [
          { body: 'dead 1', sender: '+14155550114', status: 'failed' },
          { body: 'dead 2', sender: '+14155550115', status: 'failed' },
        ]);
        await schedule.deadLetter(
          keys,
          ids.map((id) => ({ message_id: id, attempts: 5, last_error: 'HTTP 503' })),
        );
        await actor.client.get('/portal/account');
        const response = await actor.client.post(`/portal/admin/dead-letters/${tenant}/redrive-all`, {});
        const allowed = administers(actor, tenant);
        expectAnswer(response.statusCode, allowed, `${actor.label} POST ${tenant} redrive-all`);
        for (const id of ids)
          expect((await h.repositories.messages.findOne(id))!.status).toBe(allowed ? 'queued' : 'failed');
        expect(await h.redis.xlen(keys.dead)).toBe(allowed ? 0 : 2);
        await h.redis.del(keys.dead, keys.schedule);
      }
    }
  });

  it('the config reload is only for a superadmin (and only where a supervisor runs)', async () => {
    for (const actor of actors) {
      await actor.client.get('/portal/account');
      // This harness has no supervisor to reload, so even the superadmin finds nothing.
      expect((await actor.client.post('/portal/admin/reload', {})).statusCode, actor.label).toBe(404);
      if (actor.role === 'superadmin')
        expect((await actor.client.get('/portal/admin')).body).not.toContain('data-testid="reload-config"');
    }
  });

  it('the certificate admin API takes the portal session: an admin sees their domain, a user nothing', async () => {
    const api = (actor: Actor | undefined, url: string, headers: Record<string, string> = {}) =>
      h.app.inject({ method: 'GET', url, headers, cookies: actor ? Object.fromEntries(actor.client.cookies) : {} });
    const [userAlpha, adminAlpha, , adminBeta, root] = actors as [Actor, Actor, Actor, Actor, Actor];
    expect((await api(undefined, '/api/v1/admin/certificates')).json()).toMatchObject({
      error_code: 'SESSION_REQUIRED',
    });
    expect((await api(userAlpha, '/api/v1/admin/certificates')).statusCode).toBe(403);
    const alpha = (await api(adminAlpha, '/api/v1/admin/certificates')).json() as {
      certificates: Array<{ domain: string }>;
    };
    expect(alpha.certificates.length).toBeGreaterThan(0);
    expect(alpha.certificates.every((c) => c.domain === 'alpha')).toBe(true);
    expect((await api(adminBeta, '/api/v1/admin/certificates?domain=alpha')).statusCode).toBe(403);
    const all = (await api(root, '/api/v1/admin/certificates')).json() as { certificates: Array<{ domain: string }> };
    expect(new Set(all.certificates.map((c) => c.domain))).toEqual(new Set(['alpha', 'beta']));
    expect(
      (await api(root, '/api/v1/admin/certificates', { origin: 'https://evil.example', host: 'localhost:8443' }))
        .statusCode,
    ).toBe(403);
  });

  it('admin lists never show another tenant, whatever ?domain= says', async () => {
    for (const actor of actors.filter((a) => a.role === 'admin')) {
      const other: Tenant = actor.tenant === 'alpha' ? 'beta' : 'alpha';
      for (const url of [
        '/portal/admin/users',
        '/portal/admin/clients',
        '/portal/admin/certificates',
        '/portal/admin/audit',
        '/portal/admin/dead-letters',
      ]) {
        const response = await actor.client.get(`${url}?domain=${other}`);
        expect(response.statusCode, `${actor.label} ${url}`).toBe(200);
        expect(response.body, `${actor.label} ${url}`).not.toContain(`target-${other}`);
        expect(response.body, `${actor.label} ${url}`).not.toContain(`target@${other}.test`);
      }
    }
  });

  it('the whole admin area does not exist for users', async () => {
    for (const actor of actors.filter((a) => a.role === 'user')) {
      for (const url of [
        '/portal/admin',
        '/portal/admin/users',
        '/portal/admin/users/new',
        '/portal/admin/clients',
        '/portal/admin/certificates',
        '/portal/admin/dead-letters',
        '/portal/admin/audit',
      ]) {
        expect((await actor.client.get(url)).statusCode, `${actor.label} ${url}`).toBe(404);
      }
      await actor.client.get('/portal/account');
      expect(
        (await actor.client.post('/portal/admin/users', { email: 'sneaky@alpha.test', role: 'admin' })).statusCode,
      ).toBe(404);
      expect((await actor.client.post('/portal/admin/clients', { name: 'sneaky' })).statusCode).toBe(404);
      expect((await actor.client.post('/portal/admin/certificates', { client: 'a1@alpha' })).statusCode).toBe(404);
    }
    expect((await h.repositories.users.findAccounts('sneaky@alpha.test'))[0]).toBeUndefined();
  });
});
