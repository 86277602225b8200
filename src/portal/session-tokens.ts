/**
 * Portal sessions: a JWT (HS256, jose) in a `__Host-` cookie — HttpOnly, Secure,
 * SameSite=Strict, Path=/ — so script cannot read it, it never leaves HTTPS, another site
 * cannot make the browser send it, and no subdomain or path can shadow it.
 *
 * Claims: `sub` user id, `ver` the user's token_version (bumped by logout, password change
 * and disable: every token minted before is dead at its next request), `role`, `auth`
 * time of sign-in (absolute cap), `iat`/`exp` (idle expiry). Each authenticated request
 * past `RENEW_AFTER_S` gets a fresh token: the idle window slides.
 *
 * The HMAC key is 32 random bytes in `<secrets.dir>/portal-session.key` (0600), made on
 * first start. Hosts that share a portal must share that file.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SignJWT, jwtVerify, errors as joseErrors } from 'jose';
import type { UserRole } from '../db/schema.js';

export const SESSION_COOKIE = '__Host-mb_session';
export const CSRF_COOKIE = '__Host-mb_csrf';
export const SESSION_KEY_FILE = 'portal-session.key';
const ISSUER = 'mb-portal';
const AUDIENCE = 'mb-portal';
/** A token younger than this is not re-issued: one Set-Cookie a minute is plenty. */
const RENEW_AFTER_S = 60;

export interface SessionClaims {
  userId: number;
  version: number;
  role: UserRole;
  /** Sign-in time, seconds since the epoch. */
  authTime: number;
  issuedAt: number;
}

export interface SessionPolicy {
  idleSeconds: number;
  maxSeconds: number;
}

export const sessionCookieOptions = {
  path: '/',
  httpOnly: true,
  secure: true,
  sameSite: 'strict',
} as const;

export class SessionTokens {
  constructor(
    private readonly key: Uint8Array,
    private readonly policy: SessionPolicy,
  ) {}

  /** Loads the signing key from the secrets dir, creating it (0600) on first start. */
  static fromSecretsDir(dir: string, policy: SessionPolicy): SessionTokens {
    return new SessionTokens(loadOrCreateKey(dir), policy);
  }

  get idleSeconds(): number {
    return this.policy.idleSeconds;
  }

  async issue(claims: Omit<SessionClaims, 'issuedAt'>, now = Date.now()): Promise<string> {
    const nowS = Math.floor(now / 1000);
    // Never past the absolute cap, however active the session is.
    const exp = Math.min(nowS + this.policy.idleSeconds, claims.authTime + this.policy.maxSeconds);
    return new SignJWT({ ver: claims.version, role: claims.role, auth: claims.authTime })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(String(claims.userId))
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt(nowS)
      .setExpirationTime(exp)
      .sign(this.key);
  }

  /** The claims of a valid, unexpired token; undefined for anything else (never throws on input). */
  async verify(token: string | undefined, now = Date.now()): Promise<SessionClaims | undefined> {
    if (!token || token.length > 2048) return undefined;
    try {
      const { payload } = await jwtVerify(token, this.key, {
        // The allow-list: 'none' and every asymmetric algorithm are refused.
        algorithms: ['HS256'],
        issuer: ISSUER,
        audience: AUDIENCE,
        currentDate: new Date(now),
        requiredClaims: ['sub', 'iat', 'exp'],
      });
      const userId = Number(payload.sub);
      const { ver, role, auth } = payload as { ver?: unknown; role?: unknown; auth?: unknown };
      if (
        !Number.isSafeInteger(userId) ||
        typeof ver !== 'number' ||
        typeof role !== 'string' ||
        typeof auth !== 'number'
      )
        return undefined;
      if (Math.floor(now / 1000) >= auth + this.policy.maxSeconds) return undefined;
      return { userId, version: ver, role: role as UserRole, authTime: auth, issuedAt: payload.iat! };
    } catch (error) {
      if (error instanceof joseErrors.JOSEError) return undefined;
      throw error;
    }
  }

  /** The token should be replaced by a fresh one (sliding idle expiry). */
  shouldRenew(claims: SessionClaims, now = Date.now()): boolean {
    return Math.floor(now / 1000) - claims.issuedAt >= RENEW_AFTER_S;
  }
}

function loadOrCreateKey(dir: string): Uint8Array {
  const path = join(dir, SESSION_KEY_FILE);
  try {
    return decodeKey(readFileSync(path, 'utf8'), path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  try {
    // 'wx': two brokers starting together must not each write their own key.
    writeFileSync(path, `${randomBytes(32).toString('base64')}\n`, { flag: 'wx', mode: 0o600 });
    chmodSync(path, 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  return decodeKey(readFileSync(path, 'utf8'), path);
}

function decodeKey(text: string, path: string): Uint8Array {
  const key = Buffer.from(text.trim(), 'base64');
  if (key.length < 32) throw new Error(`${path} must hold at least 32 bytes of base64`);
  return new Uint8Array(key);
}
