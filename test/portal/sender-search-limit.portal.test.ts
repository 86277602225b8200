/**
 * The sender search is an oracle (did this number send anything?) against numbers masked
 * but for four digits: a burst of searches is refused past `portal.sender_search_limit`,
 * per user and in Redis; every search is audited with the user and never the number; a
 * list URL may not carry a batch of candidate hashes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { portalUserKeys } from '../../src/queue/keys.js';
import { PortalClient } from '../support/portal-client.js';
import { startPortalHarness, type PortalHarness } from '../support/portal-harness.js';

const LIMIT = 3;
let h: PortalHarness;

beforeAll(async () => {
  h = await startPortalHarness({ values: { portal: { scrypt_log_n: 12, sender_search_limit: LIMIT } } });
  await h.addMessages(h.seed.clients.a1, 'alpha', [{ body: 'hello', sender: '+447700900123' }]);
});
afterAll(async () => {
  await h?.close();
});

const search = (client: PortalClient, sender: string) =>
  client.post('/portal/messages/search', { sender, status: '', from: '', to: '' });

describe('sender search limit', () => {
  it('refuses searches past the limit with 429, audits each one without the number, and counts per user', async () => {
    const user = await PortalClient.signedIn(h.app, 'user@alpha.test');
    await user.get('/portal/messages');
    const candidates = Array.from({ length: LIMIT + 3 }, (_, i) => `+44770090${String(i).padStart(4, '0')}`);
    const answers = [];
    for (const candidate of candidates) answers.push(await search(user, candidate));
    expect(answers.slice(0, LIMIT).map((r) => r.statusCode)).toEqual(Array(LIMIT).fill(303));
    for (const refused of answers.slice(LIMIT)) {
      expect(refused.statusCode).toBe(429);
      expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
      expect(refused.body).toContain('searches by sender number recently');
      expect(refused.headers.location).toBeUndefined();
    }
    // The other filters still work.
    expect(
      (await user.post('/portal/messages/search', { sender: '', status: 'failed', from: '', to: '' })).statusCode,
    ).toBe(303);
    // The window is in Redis, shared by every broker.
    expect(
      await h.redis.get(portalUserKeys(h.config.redis.key_prefix, h.seed.users.userAlpha.id).senderSearches),
    ).toMatch(new RegExp(`^\\d+\\|${LIMIT}\\|`));

    const audit = (await h.repositories.audit.list({ domain: 'alpha', limit: 100 })).filter(
      (e) => e.action === 'message.sender_search',
    );
    expect(audit).toHaveLength(candidates.length);
    expect(audit.every((e) => e.actor === `user:${h.seed.users.userAlpha.id}`)).toBe(true);
    expect(audit.filter((e) => (e.details as { allowed: boolean }).allowed)).toHaveLength(LIMIT);
    const written = JSON.stringify(audit);
    for (const candidate of candidates) {
      expect(written).not.toContain(candidate.slice(1));
      expect(written).not.toContain(candidate.slice(-4));
    }

    // Another user has a window of their own.
    const admin = await PortalClient.signedIn(h.app, 'admin@alpha.test');
    await admin.get('/portal/messages');
    expect((await search(admin, '+447700900123')).statusCode).toBe(303);
  });

  it('refuses a list URL that carries more hashes than there are peppers', async () => {
    const user = await PortalClient.signedIn(h.app, 'user@beta.test');
    await user.get('/portal/messages');
    const found = await search(user, '+447700900123');
    expect(found.statusCode).toBe(303);
    const sh = new URL(found.headers.location!, 'https://x').searchParams.get('sh')!;
    expect((await user.get(`/portal/messages?sh=${sh}`)).statusCode).toBe(200);
    const fake = (n: number) => Array.from({ length: n }, (_, i) => i.toString(16).padStart(64, '0'));
    expect((await user.get(`/portal/messages?sh=${[sh, ...fake(2)].join(',')}`)).statusCode).toBe(200);
    for (const n of [4, 9, 40]) {
      const refused = await user.get(`/portal/messages?sh=${fake(n).join(',')}`);
      expect(refused.statusCode, `${n} hashes`).toBe(400);
      expect(refused.body).toContain('more than 3 hashes');
    }
    // Hidden fields of the filter form are checked the same way.
    const posted = await user.post('/portal/messages/search', {
      sender: '',
      status: '',
      from: '',
      to: '',
      sh: fake(4).join(','),
    });
    expect(posted.statusCode).toBe(422);
  });
});
