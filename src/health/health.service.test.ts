import { describe, expect, it } from 'vitest';
import { healthForDomain, installationStatus, summarizeHealth, type HealthReport } from './health.service.js';

const report: HealthReport = {
  status: 'up',
  instance_id: 'a',
  version: 't',
  uptime_s: 1,
  components: {
    redis: { status: 'up' },
    mysql: { status: 'up' },
    client_certificates: { status: 'degraded', expiring: [{ common_name: 'alice.acme' }] },
    downstream_acme: { status: 'degraded', breaker: { state: 'open' } },
    downstream_beta: { status: 'up' },
    webhook_transport: { status: 'degraded', insecure_http: ['beta'] },
  },
  domains: {
    acme: { status: 'degraded', reasons: ['client certificate alice.acme expires in 3 days'] },
    beta: { status: 'degraded', reasons: ['webhook target over plain http'] },
  },
};

describe('installation status', () => {
  it('ignores per-domain components: one tenant does not degrade the installation', () => {
    expect(installationStatus(report.components)).toBe('up');
  });

  it('is the worst of the shared components', () => {
    expect(installationStatus({ ...report.components, crl: { status: 'degraded' } })).toBe('degraded');
    expect(installationStatus({ ...report.components, mysql: { status: 'down' } })).toBe('down');
    expect(installationStatus({ ...report.components, instances: { status: 'degraded' } })).toBe('degraded');
  });
});

describe('what each caller sees', () => {
  it('anonymous: statuses only, no domain names', () => {
    const summary = summarizeHealth(report);
    expect(summary).toEqual({
      status: 'up',
      components: {
        redis: { status: 'up' },
        mysql: { status: 'up' },
        client_certificates: { status: 'degraded' },
        downstreams: { status: 'degraded' },
        webhook_transport: { status: 'degraded' },
      },
    });
    expect(JSON.stringify(summary)).not.toMatch(/acme|beta/);
  });

  it("a domain admin: the installation's status and their own domain only", () => {
    const seen = healthForDomain(report, 'acme');
    expect(seen.status).toBe('up');
    expect(seen.domains).toEqual({ acme: report.domains!.acme });
    expect(Object.keys(seen.components)).toEqual(['redis', 'mysql', 'downstream_acme', 'webhook_transport']);
    expect(seen.components.webhook_transport).toEqual({ status: 'degraded' });
    expect(JSON.stringify(seen)).not.toContain('beta');
  });
});
