import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, UnsecuredJWT } from 'jose';
import { afterAll, describe, expect, it } from 'vitest';
import { SESSION_KEY_FILE, SessionTokens } from './session-tokens.js';

const dir = mkdtempSync(join(tmpdir(), 'mb-session-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const policy = { idleSeconds: 1800, maxSeconds: 12 * 3600 };
const t0 = Date.parse('2030-01-01T00:00:00Z');
const claims = { userId: 7, version: 3, role: 'admin' as const, authTime: t0 / 1000 };

describe('SessionTokens', () => {
  const tokens = SessionTokens.fromSecretsDir(join(dir, 'secrets'), policy);

  it('creates its key once, 0600, and reuses it', () => {
    const path = join(dir, 'secrets', SESSION_KEY_FILE);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const key = readFileSync(path, 'utf8');
    SessionTokens.fromSecretsDir(join(dir, 'secrets'), policy);
    expect(readFileSync(path, 'utf8')).toBe(key);
  });

  it('round-trips the claims until the idle window ends', async () => {
    const token = await tokens.issue(claims, t0);
    expect(await tokens.verify(token, t0 + 60_000)).toMatchObject({
      userId: 7,
      version: 3,
      role: 'admin',
      authTime: t0 / 1000,
    });
    expect(await tokens.verify(token, t0 + 1799_000)).toBeDefined();
    expect(await tokens.verify(token, t0 + 1800_000)).toBeUndefined();
  });

  it('slides: a renewed token lives another idle window, but never past the absolute cap', async () => {
    const renewedAt = t0 + 11.9 * 3600_000;
    const renewed = await tokens.issue(claims, renewedAt);
    expect(tokens.shouldRenew((await tokens.verify(renewed, renewedAt))!, renewedAt + 61_000)).toBe(true);
    expect(await tokens.verify(renewed, renewedAt + 300_000)).toBeDefined();
    // 12 h after sign-in it ends, although its idle window would run longer.
    expect(await tokens.verify(renewed, t0 + 12 * 3600_000 + 1000)).toBeUndefined();
  });

  it('refuses tokens signed with another key, unsigned tokens and other algorithms', async () => {
    const other = new SessionTokens(new Uint8Array(32).fill(1), policy);
    expect(await tokens.verify(await other.issue(claims, t0), t0)).toBeUndefined();
    const unsecured = new UnsecuredJWT({ ver: 3, role: 'superadmin', auth: t0 / 1000 })
      .setSubject('7')
      .setIssuer('mb-portal')
      .setAudience('mb-portal')
      .setIssuedAt(t0 / 1000)
      .setExpirationTime(t0 / 1000 + 600)
      .encode();
    expect(await tokens.verify(unsecured, t0)).toBeUndefined();
    const key = Buffer.from(readFileSync(join(dir, 'secrets', SESSION_KEY_FILE), 'utf8').trim(), 'base64');
    const hs512 = await new SignJWT({ ver: 3, role: 'superadmin', auth: t0 / 1000 })
      .setProtectedHeader({ alg: 'HS512' })
      .setSubject('7')
      .setIssuer('mb-portal')
      .setAudience('mb-portal')
      .setIssuedAt(t0 / 1000)
      .setExpirationTime(t0 / 1000 + 600)
      .sign(key);
    expect(await tokens.verify(hs512, t0)).toBeUndefined();
    expect(await tokens.verify('garbage', t0)).toBeUndefined();
    expect(await tokens.verify(undefined, t0)).toBeUndefined();
  });
});
