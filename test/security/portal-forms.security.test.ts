/**
 * Property-based sweep of the portal's forms, query strings and path parameters: any
 * urlencoded body (repeated fields, unknown fields, any Unicode, megabyte-ish values cut
 * by the readers), any query string and any path segment, sent by a signed-in user and
 * by the superadmin (the widest scope), is answered without a 5xx. Validation answers
 * 4xx pages; it never throws past the error handler.
 */
import fc from 'fast-check';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CSRF_COOKIE, SESSION_COOKIE } from '../../src/portal/session-tokens.js';
import { PortalClient } from '../support/portal-client.js';
import { startPortalHarness, type PortalHarness } from '../support/portal-harness.js';

const RUNS = Number(process.env['MB_PROPERTY_RUNS'] ?? 150);

let h: PortalHarness;
let root: PortalClient;
let user: PortalClient;
let serial: string;

beforeAll(async () => {
  h = await startPortalHarness();
  serial = (await h.deps.actors.ca.call('ca.issue', { name: 'forms', domain: 'alpha', actor: 'test' })).serial;
  root = await PortalClient.signedIn(h.app, 'root@test');
  user = await PortalClient.signedIn(h.app, 'user@alpha.test');
  // A page with a form: both now hold a CSRF token for their session.
  await root.get('/portal/account');
  await user.get('/portal/account');
});

afterAll(async () => {
  await h?.close();
});

const FIELDS = [
  'email',
  'password',
  'next',
  'role',
  'domain',
  'client',
  'name',
  'reason',
  'days',
  'sender',
  'status',
  'from',
  'to',
  'sh',
  'sm',
  'before',
  'after',
  'notice',
  'current_password',
  'new_password',
  'serial',
];
const oddValue = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc.string({
    unit: fc.constantFrom(
      '\u0000',
      '\ud800',
      '%',
      '&',
      '=',
      '+',
      '[',
      ']',
      '<',
      '"',
      "'",
      '\u202e',
      ' ',
      'a',
      '9',
      '-',
      '@',
    ),
    maxLength: 30,
  }),
  fc.constantFrom(
    'admin',
    'superadmin',
    'user',
    'alpha',
    'beta',
    'a1@alpha',
    'keyCompromise',
    '2031-05-10',
    '9999-99-99',
    '-1',
    '0',
    '1e309',
    '99999999999999999999',
    '+14155550123',
    'x'.repeat(5000),
  ),
);
const fieldName = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...FIELDS) },
  { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
  { weight: 1, arbitrary: fc.constantFrom(...FIELDS).map((f) => `${f}[]`) },
);
const fields = fc.array(fc.tuple(fieldName, oddValue), { maxLength: 8 });
const pathSegment = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom('0', '-1', '1', '2', '99999999999', '..', '%2e%2e', 'null', '__proto__', 'constructor'),
);

/** Path segments and query values as a browser would encode them (undecodable % included). */
const encode = (text: string) => encodeURIComponent(text.replace(/[\ud800-\udfff]/gu, '\u0000')).replaceAll('%00', '%');

function cookiesOf(client: PortalClient): Record<string, string> {
  return Object.fromEntries([...client.cookies].filter(([name]) => name === SESSION_COOKIE || name === CSRF_COOKIE));
}

async function postForm(
  client: PortalClient,
  url: string,
  pairs: Array<[string, string]>,
): Promise<LightMyRequestResponse> {
  const body = new URLSearchParams([...pairs, ['_csrf', client.csrf]]).toString();
  return h.app.inject({
    method: 'POST',
    url,
    payload: body,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    cookies: cookiesOf(client),
  });
}

function expectNo5xx(response: LightMyRequestResponse, what: string): void {
  expect(response.statusCode, `${what} → ${response.statusCode} ${response.body.slice(0, 300)}`).toBeLessThan(500);
}

describe('portal forms, queries and paths under generated input', () => {
  const postTargets = () => [
    '/portal/login',
    '/portal/messages/search',
    '/portal/account/password',
    '/portal/admin/users',
    `/portal/admin/users/${h.seed.users.userBeta.id}/access`,
    '/portal/admin/certificates',
    '/portal/admin/certificates/download',
    `/portal/admin/certificates/${serial}/revoke`,
  ];

  it('any form posted to any form route', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...postTargets()), fields, fc.boolean(), async (url, pairs, asRoot) => {
        expectNo5xx(
          await postForm(asRoot ? root : user, url, pairs),
          `POST ${url} ${JSON.stringify(pairs).slice(0, 300)}`,
        );
      }),
      { numRuns: RUNS },
    );
  });

  it('any raw urlencoded body, and bodies of other content types', async () => {
    const contentType = fc.constantFrom(
      'application/x-www-form-urlencoded',
      'application/json',
      'text/plain',
      'multipart/form-data; boundary=x',
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...postTargets()),
        fc.string({ unit: 'binary', maxLength: 300 }),
        contentType,
        async (url, body, type) => {
          const response = await h.app.inject({
            method: 'POST',
            url,
            payload: body,
            headers: { 'content-type': type },
            cookies: cookiesOf(root),
          });
          expectNo5xx(response, `POST ${url} (${type}) ${JSON.stringify(body).slice(0, 200)}`);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('any query string on the list pages, and any path parameter', async () => {
    const pages = [
      '/portal/messages',
      '/portal/admin/audit',
      '/portal/admin/certificates',
      '/portal/admin/users',
      '/portal/admin/clients',
      '/portal/admin/dead-letters',
      '/portal/admin/certificates/new',
      '/portal/login',
    ];
    const objects = [
      '/portal/messages/',
      '/portal/admin/users/',
      '/portal/admin/clients/',
      '/portal/admin/certificates/',
    ];
    const request = fc.oneof(
      fc
        .tuple(fc.constantFrom(...pages), fields)
        .map(([page, pairs]) => `${page}?${pairs.map(([k, v]) => `${encode(k)}=${encode(v)}`).join('&')}`),
      fc.tuple(fc.constantFrom(...objects), pathSegment).map(([prefix, segment]) => `${prefix}${encode(segment)}`),
    );
    await fc.assert(
      fc.asyncProperty(request, fc.boolean(), async (url, asRoot) => {
        const response = await h.app.inject({ method: 'GET', url, cookies: cookiesOf(asRoot ? root : user) });
        expectNo5xx(response, `GET ${url.slice(0, 300)}`);
      }),
      { numRuns: RUNS },
    );
  });

  it('afterwards the superadmin is still signed in and the portal answers', async () => {
    expect((await root.get('/portal/admin')).statusCode).toBe(200);
    expect((await user.get('/portal/messages')).statusCode).toBe(200);
  });
});
