/**
 * Issue #17: unauthenticated health told too much. From a non-loopback address (inject's
 * `remoteAddress`) without credentials, /api/v1/health and /readyz answer statuses only;
 * loopback and a superadmin session see the details; a domain admin's session does not,
 * and their overview shows only their own domain's components. (A metrics identity is in
 * src/http/metrics.routes.test.ts; a real non-loopback socket in test/e2e.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HealthReport } from '../../src/health/health.service.js';
import { PortalClient } from '../support/portal-client.js';
import { startPortalHarness, type PortalHarness } from '../support/portal-harness.js';

const REMOTE = '10.1.0.9';
/** What a broker with trouble reports: each detail is something a stranger must not read. */
const secrets = [
  'b1.beta',
  'SERIAL-B1',
  '10.20.30.40',
  'db-host-7',
  '4242',
  'beta-only-problem',
  'portal-test',
  'beta-domain-reason',
];
const report: HealthReport = {
  status: 'degraded',
  instance_id: 'portal-test',
  version: 'test',
  uptime_s: 5,
  components: {
    redis: { status: 'up', latency_ms: 1 },
    client_certificates: {
      status: 'degraded',
      expiring: [{ common_name: 'b1.beta', serial: 'SERIAL-B1', days_left: 3 }],
    },
    downstream_alpha: {
      status: 'degraded',
      problem: 'alpha breaker open',
      breaker: { state: 'open', last_error: 'connect ECONNREFUSED 10.20.30.40:8443' },
    },
    downstream_beta: { status: 'degraded', problem: 'beta-only-problem' },
    instances: {
      status: 'degraded',
      problem: 'another process (db-host-7 pid 4242) uses instance_id portal-test',
      instances: [{ host: 'db-host-7', pid: 4242 }],
    },
  },
  domains: {
    alpha: { status: 'degraded', reasons: ['alpha-domain-reason'] },
    beta: { status: 'degraded', reasons: ['beta-domain-reason'] },
  },
};

let h: PortalHarness;

beforeAll(async () => {
  h = await startPortalHarness();
  // The front and the portal share this service: both see the troubled report.
  h.deps.health.report = async () => structuredClone(report);
});
afterAll(() => h?.close());

const get = (url: string, remoteAddress: string, cookie?: string) =>
  h.app.inject({ method: 'GET', url, remoteAddress, ...(cookie ? { headers: { cookie } } : {}) });

describe('health without credentials', () => {
  it('answers statuses only from a non-loopback address', async () => {
    const response = await get('/api/v1/health', REMOTE);
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({
      status: 'degraded',
      components: {
        redis: { status: 'up' },
        client_certificates: { status: 'degraded' },
        // Per-domain components fold into one: tenants' domain names do not show either.
        downstreams: { status: 'degraded' },
        instances: { status: 'degraded' },
      },
    });
    for (const secret of secrets) expect(response.body).not.toContain(secret);
  });

  it('readiness without reasons, liveness as before', async () => {
    expect(Object.keys((await get('/readyz', REMOTE)).json())).toEqual(['ready']);
    expect((await get('/healthz', REMOTE)).json()).toEqual({ status: 'alive' });
  });

  it('shows the details to loopback', async () => {
    const response = await get('/api/v1/health', '127.0.0.1');
    expect(response.json()).toMatchObject({
      instance_id: 'portal-test',
      components: report.components,
      domains: report.domains,
    });
    expect(Object.keys((await get('/readyz', '127.0.0.1')).json())).toEqual(['ready', 'reasons']);
  });
});

describe('health with a portal session', () => {
  const cookieOf = (client: PortalClient) => [...client.cookies].map(([k, v]) => `${k}=${v}`).join('; ');

  it('shows the details to a superadmin from anywhere', async () => {
    const root = await PortalClient.signedIn(h.app, h.seed.users.root.email, undefined, REMOTE);
    const response = await get('/api/v1/health', REMOTE, cookieOf(root));
    expect(response.json()).toMatchObject({ instance_id: 'portal-test', components: report.components });
  });

  it('not to a domain admin, whose overview shows only their own domain', async () => {
    const admin = await PortalClient.signedIn(h.app, h.seed.users.adminAlpha.email, undefined, REMOTE);
    const response = await get('/api/v1/health', REMOTE, cookieOf(admin));
    for (const secret of secrets) expect(response.body).not.toContain(secret);
    expect(response.json().instance_id).toBeUndefined();

    const overview = await admin.get('/portal/admin');
    expect(overview.statusCode).toBe(200);
    const components = overview.body.slice(overview.body.indexOf('data-testid="components"'));
    expect(components).toContain('downstream alpha');
    expect(components).toContain('alpha breaker open');
    expect(components).not.toContain('downstream beta');
    expect(components).not.toContain('client certificates');
    const domains = overview.body.slice(overview.body.indexOf('data-testid="domain-health"'));
    expect(domains).toContain('alpha-domain-reason');
    expect(overview.body).not.toContain('beta-domain-reason');
    for (const secret of ['beta-only-problem', 'db-host-7', 'b1.beta']) expect(overview.body).not.toContain(secret);

    const root = await PortalClient.signedIn(h.app, h.seed.users.root.email, undefined, REMOTE);
    const full = await root.get('/portal/admin');
    expect(full.body).toContain('downstream beta');
    expect(full.body).toContain('beta-only-problem');
    expect(full.body).toContain('beta-domain-reason');
  });
});
