/**
 * Sign-in under concurrency (#17): bursts of parallel attempts against the real portal
 * (inject() requests running side by side, real scrypt, real MariaDB, real Redis) must not
 * get past the account lockout or the per-address throttle, and a second broker sharing
 * the database and the Redis must not either. Each attempt is counted before its password
 * is checked.
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { portalAddressKeys } from '../../src/queue/keys.js';
import { PortalClient } from '../support/portal-client.js';
import {
  PASSWORD,
  startPortalHarness,
  startPortalReplica,
  type PortalHarness,
  type PortalReplica,
} from '../support/portal-harness.js';

const MAX_FAILURES = 5;
const IP_MAX_FAILURES = 20;

let h: PortalHarness;
/** A second broker's front: its own services and pools, the same Redis prefix and database. */
let second: PortalReplica;

beforeAll(async () => {
  // scrypt at 2^14: slow enough (tens of ms) that every attempt of a burst overlaps the others.
  h = await startPortalHarness({
    values: {
      portal: { scrypt_log_n: 14, scrypt_p: 1, login_max_failures: MAX_FAILURES, ip_max_failures: IP_MAX_FAILURES },
    },
  });
  second = await startPortalReplica(h);
});
afterAll(async () => {
  await second?.close();
  await h?.close();
});

/** A client that has fetched the form (CSRF cookie and token), ready to post. */
async function readyClient(ip: string, app: FastifyInstance = h.app): Promise<PortalClient> {
  const client = new PortalClient(app, ip);
  await client.get('/portal/login');
  return client;
}

/** Waits (briefly) until the account is locked: the burst's reservations have been made. */
async function lockedSoon(userId: number): Promise<void> {
  for (let i = 0; i < 400; i++) {
    const row = await h.repositories.users.findById(userId);
    if (row?.locked_until && row.locked_until.getTime() > Date.now()) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error('the account was not locked');
}

async function failureReasons(userId: number): Promise<string[]> {
  const audit = await h.repositories.audit.list({ limit: 500 });
  return audit
    .filter((e) => e.action === 'auth.login_failed' && e.target_id === String(userId))
    .map((e) => String((e.details as { reason?: unknown } | null)?.reason));
}

describe('parallel sign-ins', () => {
  it('evaluates at most login_max_failures wrong passwords of a 30-attempt burst, and refuses the right one once locked', async () => {
    const { userAlpha } = h.seed.users;
    // One address per attempt: only the account lockout stands in the way.
    const clients = await Promise.all(Array.from({ length: 30 }, (_, i) => readyClient(`10.2.0.${i + 1}`)));
    const burst = clients
      .slice(0, 29)
      .map((client, i) => client.post('/portal/login', { email: userAlpha.email, password: `wrong ${i}` }));
    // The right password joins while the burst is still being hashed, once the account is locked.
    await lockedSoon(userAlpha.id);
    const right = clients[29]!.post('/portal/login', { email: userAlpha.email, password: PASSWORD });
    const statuses = (await Promise.all([...burst, right])).map((r) => r.statusCode);
    expect(statuses.filter((s) => s === 303)).toEqual([]);
    expect(statuses.every((s) => s === 401)).toBe(true);

    const reasons = await failureReasons(userAlpha.id);
    expect(reasons.filter((r) => r.startsWith('wrong_password')).length).toBe(MAX_FAILURES);
    expect(reasons.filter((r) => r === 'locked').length).toBe(30 - MAX_FAILURES);
    const row = await h.repositories.users.findById(userAlpha.id);
    expect(row!.failed_logins).toBe(MAX_FAILURES);
    expect(row!.locked_until!.getTime()).toBeGreaterThan(Date.now());
    // Still locked afterwards, for the right password too.
    expect((await (await readyClient('10.2.1.1')).login(userAlpha.email, PASSWORD)).statusCode).toBe(401);
  });

  it('lets the right password in when it comes within the allowance, and then clears the counter', async () => {
    const { adminAlpha } = h.seed.users;
    const clients = await Promise.all(Array.from({ length: MAX_FAILURES }, (_, i) => readyClient(`10.2.2.${i + 1}`)));
    // login_max_failures - 1 wrong passwords and the right one, all at once: not a lockout.
    const responses = await Promise.all(
      clients.map((client, i) =>
        client.post('/portal/login', {
          email: adminAlpha.email,
          password: i === MAX_FAILURES - 1 ? PASSWORD : `wrong ${i}`,
        }),
      ),
    );
    expect(responses.map((r) => r.statusCode).sort()).toEqual(
      [...Array<number>(MAX_FAILURES - 1).fill(401), 303].sort(),
    );
    const row = await h.repositories.users.findById(adminAlpha.id);
    expect(row!.locked_until).toBeNull();
  });

  it('counts attempts from one address as they start: 40 at once, at most ip_max_failures evaluated', async () => {
    const { root } = h.seed.users;
    const ip = '10.2.3.1';
    const clients = await Promise.all(Array.from({ length: 40 }, () => readyClient(ip)));
    // Unknown accounts, so no account lockout is involved; the right password of root comes last.
    const responses = await Promise.all(
      clients.map((client, i) =>
        i === 39
          ? client.post('/portal/login', { email: root.email, password: PASSWORD })
          : client.post('/portal/login', { email: `nobody${i}@test`, password: 'guess' }),
      ),
    );
    const statuses = responses.map((r) => r.statusCode);
    const evaluated = statuses.filter((s) => s === 401 || s === 303).length;
    expect(evaluated).toBeLessThanOrEqual(IP_MAX_FAILURES);
    expect(statuses.filter((s) => s === 401).length).toBe(IP_MAX_FAILURES);
    expect(statuses.filter((s) => s === 429).length).toBe(40 - IP_MAX_FAILURES);
    expect(statuses[39]).toBe(429);
    // And the address stays throttled, right password or not.
    expect((await (await readyClient(ip)).login(root.email, PASSWORD)).statusCode).toBe(429);
  });

  it('holds across two brokers sharing the database: 40 attempts split between them, one user, then the right password on each', async () => {
    const { userBeta } = h.seed.users;
    const here = await Promise.all(Array.from({ length: 21 }, (_, i) => readyClient(`10.2.4.${i + 1}`)));
    const there = await Promise.all(Array.from({ length: 21 }, (_, i) => readyClient(`10.2.5.${i + 1}`, second.app)));
    const attempt = (client: PortalClient, password: string) =>
      client
        .post('/portal/login', { email: userBeta.email, password })
        .then((r) => (r.statusCode === 303 ? 'session' : String(r.statusCode)));
    const burst = [
      ...here.slice(0, 20).map((client, i) => attempt(client, `wrong ${i}`)),
      ...there.slice(0, 20).map((client, i) => attempt(client, `other ${i}`)),
    ];
    // The right password, on both brokers, while the burst is in flight and the account locked.
    await lockedSoon(userBeta.id);
    const right = [attempt(here[20]!, PASSWORD), attempt(there[20]!, PASSWORD)];
    const outcomes = await Promise.all([...burst, ...right]);
    expect(outcomes.filter((o) => o === 'session')).toEqual([]);
    const reasons = await failureReasons(userBeta.id);
    expect(reasons.filter((r) => r.startsWith('wrong_password')).length).toBe(MAX_FAILURES);
    expect((await h.repositories.users.findById(userBeta.id))!.failed_logins).toBe(MAX_FAILURES);
  });

  it('counts one address across two brokers sharing the Redis: 40 at once split between them, at most ip_max_failures evaluated', async () => {
    const ip = '10.2.6.1';
    // Alternating brokers, as a load balancer would spread them.
    const clients = await Promise.all(
      Array.from({ length: 40 }, (_, i) => readyClient(ip, i % 2 === 0 ? h.app : second.app)),
    );
    const responses = await Promise.all(
      clients.map((client, i) => client.post('/portal/login', { email: `nobody-shared${i}@test`, password: 'guess' })),
    );
    const statuses = responses.map((r) => r.statusCode);
    // Kept per broker, each would have let ip_max_failures through (40 in all).
    expect(statuses.filter((s) => s === 401).length).toBe(IP_MAX_FAILURES);
    expect(statuses.filter((s) => s === 429).length).toBe(40 - IP_MAX_FAILURES);
    // Both brokers refuse the address afterwards, the right password included.
    const { root } = h.seed.users;
    for (const app of [h.app, second.app])
      expect((await (await readyClient(ip, app)).login(root.email, PASSWORD)).statusCode).toBe(429);
    // One counter in Redis, under the broker's prefix, expiring with the window.
    const key = portalAddressKeys(h.config.redis.key_prefix, ip).loginFailures;
    expect(await h.redis.get(key)).toBe(String(IP_MAX_FAILURES));
    expect(await h.redis.pttl(key)).toBeGreaterThan(14 * 60_000);
  });
});
