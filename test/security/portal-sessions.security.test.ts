/**
 * Forged and stale portal session tokens, presented the way an attacker would — as the
 * session cookie of real requests to the portal pages and the certificate admin API (the
 * token verifier itself is unit-tested in src/portal/session-tokens.test.ts). Each one
 * must leave the caller signed out: a redirect to the sign-in page for pages, 401
 * SESSION_REQUIRED for the API, never the data and never a 5xx.
 *
 *   tampered payload · re-signed payload (wrong signature) · expired · past the absolute
 *   cap · logged out (token version bumped) · alg none · HS512 and RS256 with an
 *   embedded key · another HMAC key · wrong issuer/audience · malformed cookies
 *
 * And a validly signed token that claims a higher role than the account has grants
 * nothing: the role comes from the users table, not the token.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportJWK, SignJWT, UnsecuredJWT } from 'jose';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SESSION_COOKIE, SESSION_KEY_FILE } from '../../src/portal/session-tokens.js';
import { PortalClient } from '../support/portal-client.js';
import { startPortalHarness, type PortalHarness } from '../support/portal-harness.js';

const SECRET_BODY = 'alpha session secret';
const BETA_BODY = 'beta session secret';

let h: PortalHarness;
/** A live token of user@alpha, and the account's ids. */
let userToken: string;
let userId: number;
let rootId: number;
let key: Uint8Array;

beforeAll(async () => {
  h = await startPortalHarness();
  await h.addMessages(h.seed.clients.a1, 'alpha', [{ body: SECRET_BODY, sender: '+14155550199' }]);
  await h.addMessages(h.seed.clients.b1, 'beta', [{ body: BETA_BODY, sender: '+14155550198' }]);
  userId = h.seed.users.userAlpha.id;
  rootId = h.seed.users.root.id;
  const user = await PortalClient.signedIn(h.app, 'user@alpha.test');
  userToken = user.cookies.get(SESSION_COOKIE)!;
  key = new Uint8Array(
    Buffer.from(readFileSync(join(h.config.secrets.dir, SESSION_KEY_FILE), 'utf8').trim(), 'base64'),
  );
});

afterAll(async () => {
  await h?.close();
});

const nowS = () => Math.floor(Date.now() / 1000);

function page(url: string, cookie: string | undefined): Promise<LightMyRequestResponse> {
  return h.app.inject({
    method: 'GET',
    url,
    headers: cookie === undefined ? {} : { cookie: `${SESSION_COOKIE}=${cookie}` },
  });
}

/** Signed out on a page and on the admin API, with no trace of the data. */
async function expectSignedOut(token: string, what: string): Promise<void> {
  for (const url of ['/portal/messages', '/portal/admin/users', '/portal/account']) {
    const response = await page(url, token);
    expect(response.statusCode, `${what}: GET ${url}`).toBe(303);
    expect(response.headers.location, `${what}: GET ${url}`).toMatch(/^\/portal\/login/);
    expect(response.body, what).not.toContain(SECRET_BODY);
    expect(response.body, what).not.toContain(BETA_BODY);
  }
  const api = await page('/api/v1/admin/certificates', token);
  expect(api.statusCode, `${what}: admin API`).toBe(401);
  expect(api.json(), what).toMatchObject({ error_code: 'SESSION_REQUIRED', tracking_id: expect.any(String) });
  const post = await h.app.inject({
    method: 'POST',
    url: '/api/v1/admin/clients',
    headers: { cookie: `${SESSION_COOKIE}=${token}`, 'content-type': 'application/json' },
    payload: { name: 'forged', domain: 'alpha' },
  });
  expect(post.statusCode, `${what}: admin API POST`).toBe(401);
  expect(await h.repositories.clients.findByNameAndDomain('forged', 'alpha')).toBeUndefined();
}

const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const decode = (part: string) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>;

/** The claims the portal issues, for a token made by hand. */
function claimsOf(version: number, role: string) {
  return { ver: version, role, auth: nowS() - 60 };
}

async function signed(
  payload: Record<string, unknown>,
  options: {
    sub: number;
    key?: Uint8Array;
    alg?: string;
    issuer?: string;
    audience?: string;
    iat?: number;
    exp?: number;
  },
) {
  const iat = options.iat ?? nowS() - 30;
  return new SignJWT(payload)
    .setProtectedHeader({ alg: options.alg ?? 'HS256', typ: 'JWT' })
    .setSubject(String(options.sub))
    .setIssuer(options.issuer ?? 'mb-portal')
    .setAudience(options.audience ?? 'mb-portal')
    .setIssuedAt(iat)
    .setExpirationTime(options.exp ?? iat + 1800)
    .sign(options.key ?? key);
}

async function versionOf(id: number): Promise<number> {
  return (await h.repositories.users.findById(id))!.token_version;
}

describe('session tokens in the cookie', () => {
  it('control: the genuine token reads the messages', async () => {
    const response = await page('/portal/messages', userToken);
    expect(response.statusCode).toBe(200);
    expect(response.body).toContain(SECRET_BODY);
  });

  it('refuses a tampered payload with the original signature (sub → superadmin, role → superadmin)', async () => {
    const [header, payload, signature] = userToken.split('.') as [string, string, string];
    const claims = decode(payload);
    await expectSignedOut(`${header}.${encode({ ...claims, sub: String(rootId) })}.${signature}`, 'sub swapped');
    await expectSignedOut(`${header}.${encode({ ...claims, role: 'superadmin' })}.${signature}`, 'role raised');
    await expectSignedOut(
      `${header}.${encode({ ...claims, exp: nowS() + 86_400 * 365 })}.${signature}`,
      'exp extended',
    );
  });

  it('refuses a token whose signature is altered or missing', async () => {
    const [header, payload, signature] = userToken.split('.') as [string, string, string];
    // The first character carries six whole bits of the MAC (the last one partly padding).
    const flipped = `${signature[0] === 'A' ? 'B' : 'A'}${signature.slice(1)}`;
    await expectSignedOut(`${header}.${payload}.${flipped}`, 'flipped signature');
    await expectSignedOut(`${header}.${payload}.`, 'empty signature');
    await expectSignedOut(`${header}.${payload}`, 'two parts');
  });

  it('refuses an expired token and one past the absolute cap', async () => {
    const version = await versionOf(userId);
    const past = nowS() - 7200;
    await expectSignedOut(
      await signed(claimsOf(version, 'user'), { sub: userId, iat: past, exp: past + 1800 }),
      'expired',
    );
    // Within its idle window, but signed in 13 hours ago (cap 12 h).
    await expectSignedOut(
      await signed({ ver: version, role: 'user', auth: nowS() - 13 * 3600 }, { sub: userId }),
      'past the cap',
    );
  });

  it('refuses a token minted before the account logged out (token version bumped)', async () => {
    const client = await PortalClient.signedIn(h.app, 'user@beta.test');
    const token = client.cookies.get(SESSION_COOKIE)!;
    expect((await page('/portal/messages', token)).statusCode).toBe(200);
    await h.repositories.users.bumpTokenVersion(h.seed.users.userBeta.id);
    await expectSignedOut(token, 'after logout');
  });

  it('refuses alg none, other algorithms and keys, and embedded keys', async () => {
    const version = await versionOf(rootId);
    const claims = claimsOf(version, 'superadmin');
    const unsecured = new UnsecuredJWT(claims)
      .setSubject(String(rootId))
      .setIssuer('mb-portal')
      .setAudience('mb-portal')
      .setIssuedAt(nowS() - 30)
      .setExpirationTime(nowS() + 1800)
      .encode();
    await expectSignedOut(unsecured, 'alg none');
    // "alg":"none" with the signature of a real token left on.
    const noneHeader = encode({ alg: 'none', typ: 'JWT' });
    await expectSignedOut(
      `${noneHeader}.${userToken.split('.')[1]}.${userToken.split('.')[2]}`,
      'alg none with a signature',
    );
    await expectSignedOut(await signed(claims, { sub: rootId, alg: 'HS512' }), 'HS512 with the real key');
    await expectSignedOut(await signed(claims, { sub: rootId, key: new Uint8Array(randomBytes(32)) }), 'another key');
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jwk = await exportJWK(publicKey);
    const embedded = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', jwk })
      .setSubject(String(rootId))
      .setIssuer('mb-portal')
      .setAudience('mb-portal')
      .setIssuedAt(nowS() - 30)
      .setExpirationTime(nowS() + 1800)
      .sign(privateKey);
    await expectSignedOut(embedded, 'RS256 with an embedded JWK');
    await expectSignedOut(await signed(claims, { sub: rootId, issuer: 'someone-else' }), 'wrong issuer');
    await expectSignedOut(await signed(claims, { sub: rootId, audience: 'someone-else' }), 'wrong audience');
  });

  it('treats malformed cookies as no session, never as an error', async () => {
    for (const junk of [
      '',
      'a.b.c',
      '...',
      'x'.repeat(5000),
      '%E0%A4%A',
      '%00',
      'eyJhbGciOiJIUzI1NiJ9.%ZZ.x',
      encodeURIComponent('ünïcödé.☃.💥'),
    ]) {
      for (const url of ['/portal/messages', '/api/v1/admin/certificates']) {
        const response = await page(url, junk);
        expect(response.statusCode, `${url} with ${junk.slice(0, 40)}`).toBeLessThan(500);
        expect([303, 401], `${url} with ${junk.slice(0, 40)}`).toContain(response.statusCode);
      }
    }
  });

  it('takes the role from the account, not from a validly signed token that claims more', async () => {
    const version = await versionOf(userId);
    const claimsSuperadmin = await signed({ ver: version, role: 'superadmin', auth: nowS() - 60 }, { sub: userId });
    const admin = await page('/portal/admin/users', claimsSuperadmin);
    expect(admin.statusCode).toBe(404);
    const api = await page('/api/v1/admin/certificates', claimsSuperadmin);
    expect(api.statusCode).toBe(403);
    for (const url of ['/portal/messages', '/portal/messages?domain=beta']) {
      const messages = await page(url, claimsSuperadmin);
      expect(messages.statusCode).toBeLessThan(500);
      expect(messages.body).not.toContain(BETA_BODY);
    }
  });
});
