/**
 * The messages pages through inject(): bodies opened by the real encryption actor, numbers
 * masked, newest first with keyset pages both ways, the filters (date range, status,
 * sender by keyed hash, never a number in a URL), the detail page, escaping, and the audit
 * entries of admins reading decrypted messages.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PortalClient } from '../support/portal-client.js';
import { PASSWORD, startPortalHarness, type PortalHarness } from '../support/portal-harness.js';

let h: PortalHarness;
let alphaIds: string[];
let a2Ids: string[];
let betaIds: string[];
const DAY = 86_400_000;
const BASE = Date.parse('2031-05-10T12:00:00Z');
const HOSTILE = '<img src=x onerror="alert(1)"> & "quotes"';

beforeAll(async () => {
  h = await startPortalHarness();
  const { a1, a2, b1 } = h.seed.clients;
  // 60 messages of a1 over 6 days, newest at index 59; every 10th from +447700900123, every 7th failed.
  alphaIds = await h.addMessages(
    a1,
    'alpha',
    Array.from({ length: 60 }, (_, i) => ({
      body: i === 59 ? HOSTILE : `alpha message ${i}`,
      sender: i % 10 === 0 ? '+447700900123' : `+1415555${String(1000 + i)}`,
      status: i % 7 === 0 ? ('failed' as const) : ('delivered' as const),
      createdAt: new Date(BASE + Math.floor(i / 10) * DAY + i * 1000),
    })),
  );
  a2Ids = await h.addMessages(a2, 'alpha', [
    { body: 'sibling client secret', sender: '+14155550000', createdAt: new Date(BASE) },
    { body: 'routed to eu', sender: '+447700900999', createdAt: new Date(BASE), target: 'eu', route: 'uk-prefix' },
    { body: 'nul\u0000esc\u001bdel\u007f end', sender: '+14155550001', createdAt: new Date(BASE) },
  ]);
  betaIds = await h.addMessages(b1, 'beta', [
    { body: 'beta tenant secret', sender: '+447700900123', createdAt: new Date(BASE) },
  ]);
});
afterAll(async () => {
  await h?.close();
});

const rowsOf = (html: string) =>
  [...html.matchAll(/<tr data-href="\/portal\/messages\/([0-9a-f-]{36})"/g)].map((m) => m[1]!);
const linkOf = (html: string, rel: 'next' | 'prev') =>
  new RegExp(`href="([^"]+)" rel="${rel}"`).exec(html)?.[1]?.replaceAll('&amp;', '&');

describe('messages list', () => {
  it("shows a user their client's messages only, newest first, decrypted, numbers masked", async () => {
    const user = await PortalClient.signedIn(h.app, 'user@alpha.test');
    const page = await user.get('/portal/messages');
    expect(page.statusCode).toBe(200);
    const ids = rowsOf(page.body);
    expect(ids).toEqual([...alphaIds].reverse().slice(0, 50));
    expect(page.body).toContain('alpha message 58');
    expect(page.body).toContain('+447*****0123');
    expect(page.body).not.toContain('+447700900123');
    expect(page.body).not.toContain('sibling client secret');
    expect(page.body).not.toContain('beta tenant secret');
    // Escaped, never markup.
    expect(page.body).toContain('&lt;img src=x onerror=&quot;alert(1)&quot;&gt; &amp; &quot;quotes&quot;');
    expect(page.body).not.toContain('<img src=x');
  });

  it('pages to older messages and back to newer ones', async () => {
    const user = await PortalClient.signedIn(h.app, 'user@alpha.test');
    const first = await user.get('/portal/messages');
    expect(linkOf(first.body, 'prev')).toBeUndefined();
    const second = await user.get(linkOf(first.body, 'next')!);
    expect(rowsOf(second.body)).toEqual([...alphaIds].reverse().slice(50));
    expect(linkOf(second.body, 'next')).toBeUndefined();
    const back = await user.get(linkOf(second.body, 'prev')!);
    expect(rowsOf(back.body)).toEqual([...alphaIds].reverse().slice(0, 50));
  });

  it('takes the last day a date field offers (9999-12-31) as "to": every message is before it', async () => {
    const user = await PortalClient.signedIn(h.app, 'user@alpha.test');
    const all = rowsOf((await user.get('/portal/messages')).body);
    expect(all.length).toBeGreaterThan(0);
    expect(rowsOf((await user.get('/portal/messages?to=9999-12-31')).body)).toEqual(all);
    expect(rowsOf((await user.get('/portal/messages?from=2031-05-10&to=9999-12-31')).body)).toEqual(all);
  });

  it('filters by status and by an inclusive date range', async () => {
    const user = await PortalClient.signedIn(h.app, 'user@alpha.test');
    const failed = await user.get('/portal/messages?status=failed');
    expect(rowsOf(failed.body)).toEqual(alphaIds.filter((_, i) => i % 7 === 0).reverse());
    await user.get('/portal/messages');
    const search = await user.post('/portal/messages/search', {
      from: '2031-05-11',
      to: '2031-05-12',
      status: '',
      sender: '',
    });
    expect(search.statusCode).toBe(303);
    expect(search.headers.location).toBe('/portal/messages?from=2031-05-11&to=2031-05-12');
    const ranged = await user.get(search.headers.location!);
    expect(rowsOf(ranged.body)).toEqual(alphaIds.slice(10, 30).reverse());
  });

  it("reads the dates as days in the reader's time zone (the form sends the browser's), UTC days without one", async () => {
    const user = await PortalClient.signedIn(h.app, 'user@alpha.test');
    const page = await user.get('/portal/messages');
    expect(page.body).toContain('name="tz" value="" data-browser-zone');
    // Day k's messages were created at 12:00 UTC: 02:00 of the next day on Kiritimati (UTC+14).
    const search = await user.post('/portal/messages/search', {
      from: '2031-05-12',
      to: '2031-05-12',
      tz: 'Pacific/Kiritimati',
      status: '',
      sender: '',
    });
    expect(search.headers.location).toBe('/portal/messages?from=2031-05-12&to=2031-05-12&tz=Pacific%2FKiritimati');
    const local = await user.get(search.headers.location!);
    expect(rowsOf(local.body)).toEqual(alphaIds.slice(10, 20).reverse());
    // The page says which days these are, and keeps that zone for the next search and page.
    expect(local.body).toContain('days in <span data-zone-name>Pacific/Kiritimati</span>');
    expect(local.body).toContain('name="tz" value="Pacific/Kiritimati">');
    const utc = await user.get('/portal/messages?from=2031-05-12&to=2031-05-12');
    expect(rowsOf(utc.body)).toEqual(alphaIds.slice(20, 30).reverse());
    expect(utc.body).toContain('days in <span data-zone-name>UTC</span>');
    // A zone this Node does not know reads as UTC, and the page says so.
    const unknown = await user.get('/portal/messages?from=2031-05-12&to=2031-05-12&tz=Mars%2FOlympus');
    expect(rowsOf(unknown.body)).toEqual(alphaIds.slice(20, 30).reverse());
    expect(unknown.body).toContain('days in <span data-zone-name>UTC</span>');
  });

  it('finds messages by sender through the keyed hash: the number never appears in a URL or the page', async () => {
    const user = await PortalClient.signedIn(h.app, 'user@alpha.test');
    await user.get('/portal/messages');
    const search = await user.post('/portal/messages/search', {
      sender: '+44 7700 900123',
      status: '',
      from: '',
      to: '',
    });
    expect(search.statusCode).toBe(303);
    const location = search.headers.location!;
    expect(location).toMatch(/^\/portal\/messages\?sh=[0-9a-f]{64}&sm=%2B447\*{5}0123$/);
    expect(location).not.toContain('7700900123');
    const found = await user.get(location);
    expect(rowsOf(found.body)).toEqual(alphaIds.filter((_, i) => i % 10 === 0).reverse());
    expect(found.body).toContain('sender <span class="font-monospace">+447*****0123</span>');
    // Changing another filter keeps the sender filter (it rides along in hidden fields).
    const sh = /name="sh" value="([0-9a-f,]+)"/.exec(found.body)![1]!;
    const narrowed = await user.post('/portal/messages/search', {
      sender: '',
      status: 'failed',
      from: '',
      to: '',
      sh,
      sm: '+447*****0123',
    });
    expect(narrowed.headers.location).toBe(`/portal/messages?status=failed&sh=${sh}&sm=%2B447*****0123`);
    expect(rowsOf((await user.get(narrowed.headers.location!)).body)).toEqual(
      alphaIds.filter((_, i) => i % 10 === 0 && i % 7 === 0).reverse(),
    );
    expect(found.body).not.toContain('beta tenant secret');

    const bad = await user.post('/portal/messages/search', { sender: '12345x', status: '', from: '', to: '' });
    expect(bad.statusCode).toBe(422);
    expect(bad.body).toContain('Enter the number in international form');
    expect(bad.body).not.toContain('12345x');
    const reversed = await user.post('/portal/messages/search', {
      from: '2031-05-12',
      to: '2031-05-11',
      status: '',
      sender: '',
    });
    expect(reversed.statusCode).toBe(422);
    expect((await user.get('/portal/messages?from=yesterday')).statusCode).toBe(400);
    expect((await user.get('/portal/messages?status=lost')).statusCode).toBe(400);
    expect((await user.get('/portal/messages?sh=abc')).statusCode).toBe(400);
  });

  it('answers a wrong filter at its own field, keeps the other inputs, and spends no sender search on it', async () => {
    const user = await PortalClient.signedIn(h.app, 'user@alpha.test');
    await user.get('/portal/messages');
    const invalidAt = (html: string) =>
      [...html.matchAll(/class="form-(?:control|select) form-(?:control|select)-sm is-invalid" id="(\w+)"/g)].map(
        (m) => m[1],
      );
    const searches = async () =>
      (await h.repositories.audit.list({ domain: 'alpha', limit: 500 })).filter(
        (e) => e.action === 'message.sender_search',
      ).length;
    const before = await searches();

    const badTo = await user.post('/portal/messages/search', {
      from: '2031-05-11',
      to: '2031-02-30',
      status: 'failed',
      sender: '+44 7700 900123',
    });
    expect(badTo.statusCode).toBe(422);
    expect(invalidAt(badTo.body)).toEqual(['to']);
    expect(badTo.body).toContain('Dates are written yyyy-mm-dd');
    expect(badTo.body).toContain('id="from" name="from" value="2031-05-11"');
    expect(badTo.body).toContain('id="to" name="to" value="2031-02-30"');
    expect(badTo.body).toContain('<option value="failed" selected>');

    const badStatus = await user.post('/portal/messages/search', {
      from: '2031-05-11',
      to: '',
      status: 'lost',
      sender: '+44 7700 900123',
    });
    expect(badStatus.statusCode).toBe(422);
    expect(invalidAt(badStatus.body)).toEqual(['status']);
    expect(badStatus.body).toContain('id="from" name="from" value="2031-05-11"');

    const badHashes = await user.post('/portal/messages/search', {
      from: '',
      to: '',
      status: '',
      sender: '',
      sh: 'abc',
    });
    expect(badHashes.statusCode).toBe(422);
    expect(invalidAt(badHashes.body)).toEqual(['sender']);
    // None of these ran (or counted, or audited) the sender search.
    expect(await searches()).toBe(before);
    // The same search with the rest right runs once.
    const good = await user.post('/portal/messages/search', {
      from: '2031-05-11',
      to: '',
      status: 'failed',
      sender: '+44 7700 900123',
    });
    expect(good.statusCode).toBe(303);
    expect(await searches()).toBe(before + 1);
  });

  it('shows an admin every message of the domain, and a superadmin every domain or the one chosen', async () => {
    const admin = await PortalClient.signedIn(h.app, 'admin@alpha.test');
    const adminPage = await admin.get('/portal/messages?status=delivered');
    expect(adminPage.body).toContain('a1.alpha');
    const all = (await admin.get('/portal/messages?from=2031-05-10&to=2031-05-10')).body;
    expect(rowsOf(all)).toContain(a2Ids[0]);
    expect(rowsOf(all)).not.toContain(betaIds[0]);
    // An admin cannot widen the scope by naming another domain.
    expect((await admin.get('/portal/messages?domain=beta')).statusCode).toBe(400);
    // Naming their own domain is no widening: the same list.
    const own = await admin.get('/portal/messages?domain=alpha&from=2031-05-10&to=2031-05-10');
    expect(own.statusCode).toBe(200);
    expect(rowsOf(own.body)).toEqual(rowsOf(all));
    const user = await PortalClient.signedIn(h.app, 'user@alpha.test');
    const userOwn = await user.get('/portal/messages?domain=alpha&status=failed');
    expect(userOwn.statusCode).toBe(200);
    expect(rowsOf(userOwn.body)).toEqual(rowsOf((await user.get('/portal/messages?status=failed')).body));
    expect((await user.get('/portal/messages?domain=beta')).statusCode).toBe(400);

    const root = await PortalClient.signedIn(h.app, 'root@test');
    const everything = rowsOf((await root.get('/portal/messages?from=2031-05-10&to=2031-05-10')).body);
    expect(everything).toEqual(expect.arrayContaining([a2Ids[0], betaIds[0], alphaIds[0]]));
    const betaOnly = rowsOf((await root.get('/portal/messages?domain=beta')).body);
    expect(betaOnly).toEqual(betaIds);
  });

  it('audits admins reading decrypted lists, not users reading their own', async () => {
    const before = (await h.repositories.audit.list({ limit: 500 })).filter((e) => e.action === 'message.list').length;
    const user = await PortalClient.signedIn(h.app, 'user@alpha.test');
    await user.get('/portal/messages');
    expect((await h.repositories.audit.list({ limit: 500 })).filter((e) => e.action === 'message.list').length).toBe(
      before,
    );
    const admin = await PortalClient.signedIn(h.app, 'admin@alpha.test');
    await admin.get('/portal/messages?status=failed');
    const entry = (await h.repositories.audit.list({ domain: 'alpha', limit: 50 })).find(
      (e) => e.action === 'message.list',
    );
    expect(entry).toMatchObject({
      actor: `user:${h.seed.users.adminAlpha.id}`,
      domain: 'alpha',
      target_type: 'message',
    });
    expect(entry!.details).toMatchObject({ shown: 9, status: 'failed', by_sender: false });
  });
});

describe('live refreshes and the audit log', () => {
  it("records an admin's identical list reads within a minute once (a live page re-fetching itself), any other read again", async () => {
    const listRows = async () =>
      (await h.repositories.audit.list({ domain: 'alpha', limit: 500 })).filter(
        (e) => e.action === 'message.list' && e.actor === `user:${h.seed.users.adminAlpha.id}`,
      ).length;
    const admin = await PortalClient.signedIn(h.app, 'admin@alpha.test');
    const before = await listRows();
    // What live.js does on each hint: GET the same URL again.
    for (let i = 0; i < 5; i++) expect((await admin.get('/portal/messages?from=2031-05-11')).statusCode).toBe(200);
    expect(await listRows()).toBe(before + 1);
    await admin.get('/portal/messages?from=2031-05-12');
    expect(await listRows()).toBe(before + 2);
    // Another admin reading the same list is recorded for themselves.
    const root = await PortalClient.signedIn(h.app, 'root@test');
    await root.get('/portal/messages?from=2031-05-11');
    const rootRows = (await h.repositories.audit.list({ limit: 500 })).filter(
      (e) => e.action === 'message.list' && e.actor === `user:${h.seed.users.root.id}`,
    );
    expect(rootRows.length).toBeGreaterThan(0);
  });
});

describe('message detail', () => {
  it('shows the whole message with its delivery facts', async () => {
    const user = await PortalClient.signedIn(h.app, 'user@alpha.test');
    const page = await user.get(`/portal/messages/${alphaIds[7]}`);
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('alpha message 7');
    expect(page.body).toContain('data-testid="status">failed<');
    expect(page.body).toContain('+141****1007');
    expect(page.body).not.toContain('Your viewing of this message is recorded');
  });

  it('records an admin opening a message in the audit log', async () => {
    const admin = await PortalClient.signedIn(h.app, 'admin@alpha.test', PASSWORD);
    const page = await admin.get(`/portal/messages/${a2Ids[0]}`);
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('sibling client secret');
    expect(page.body).toContain('Your viewing of this message is recorded');
    const audit = await h.repositories.audit.list({ domain: 'alpha', limit: 50 });
    expect(audit.find((e) => e.action === 'message.view' && e.target_id === a2Ids[0])).toMatchObject({
      actor: `user:${h.seed.users.adminAlpha.id}`,
    });
  });

  it('shows the target and route chosen at submit (a message of before routing: default, no route)', async () => {
    const admin = await PortalClient.signedIn(h.app, 'admin@alpha.test', PASSWORD);
    const routed = await admin.get(`/portal/messages/${a2Ids[1]}`);
    expect(routed.body).toMatch(/<dt>Target<\/dt><dd[^>]*>eu<\/dd>/);
    expect(routed.body).toMatch(/<dt>Route<\/dt><dd[^>]*>uk-prefix<\/dd>/);
    const old = await admin.get(`/portal/messages/${a2Ids[0]}`);
    expect(old.body).toMatch(/<dt>Target<\/dt><dd[^>]*>default<\/dd>/);
    expect(old.body).toMatch(/<dt>Route<\/dt><dd[^>]*>–<\/dd>/);
  });

  it('shows control characters in a body as their pictures, never raw in the page', async () => {
    const admin = await PortalClient.signedIn(h.app, 'admin@alpha.test', PASSWORD);
    const page = await admin.get(`/portal/messages/${a2Ids[2]}`);
    expect(page.body).toContain('nul␀esc␛del␡ end');
    // biome-ignore lint/suspicious/noControlCharactersInRegex: what must not be in the page.
    expect(page.body).not.toMatch(/[\u0000\u001b\u007f]/);
  });

  it('answers 404 for malformed and unknown ids alike', async () => {
    const user = await PortalClient.signedIn(h.app, 'user@alpha.test');
    for (const id of ['nope', '00000000-0000-0000-0000-000000000000', `${alphaIds[0]}x`]) {
      const response = await user.get(`/portal/messages/${id}`);
      expect(response.statusCode).toBe(404);
      expect(response.body).toContain('There is no such message');
    }
  });

  it('cuts a long body in the list without splitting an emoji (no "�" where it was)', async () => {
    const client = await h.repositories.clients.create({ name: 'emoji', domain: 'beta' });
    // Newer than every other message, so it heads beta's first page.
    const [id] = await h.addMessages(client, 'beta', [
      { body: `${'a'.repeat(199)}\u{1F600} and more`, sender: '+14155550002', createdAt: new Date(BASE + 100 * DAY) },
    ]);
    const root = await PortalClient.signedIn(h.app, 'root@test');
    const page = await root.get('/portal/messages?domain=beta');
    const row = page.body.slice(page.body.indexOf(`/portal/messages/${id}`));
    const preview = /<td class="body-preview">([^<]*)<\/td>/.exec(row)?.[1];
    expect(preview).toBe(`${'a'.repeat(199)}…`);
    expect(page.body).not.toContain('\uFFFD');
  });
});
