/**
 * How `mb selftest` judges health: `up` passes, `degraded` passes with a warning naming
 * the reason, `down` (503) fails. The broker is stood in for by a scripted client; the
 * end-to-end run against a real degraded broker is in test/e2e/insecure-webhook.e2e.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type { ApiAnswer, ApiClient } from './api-client.js';
import { runSelftest } from './selftest.js';

const CERT_DEGRADED = {
  status: 'degraded',
  components: {
    redis: { status: 'up' },
    mysql: { status: 'up' },
    client_certificates: {
      status: 'degraded',
      active: 3,
      expiring: [
        { common_name: 'alice.acme', serial: '0a', days_left: 3 },
        { common_name: 'bob.acme', serial: '0b', days_left: 20 },
      ],
    },
  },
};

/** A broker that answers every other check as a healthy one does. */
function brokerAnswering(health: ApiAnswer): ApiClient {
  const answer = (status: number, body: Record<string, unknown>): Promise<ApiAnswer> =>
    Promise.resolve({ status, body, ms: 1 });
  const client = {
    get: (path: string) => {
      if (path === '/api/v1/health') return Promise.resolve(health);
      if (path === '/readyz') return answer(200, { ready: true });
      return answer(200, { message_id: path.split('/').pop(), status: 'delivered' });
    },
    post: (_path: string, body: { sender_number?: string; message_body?: string }) => {
      const valid = /^\+[1-9]\d{1,14}$/.test(body.sender_number ?? '') && (body.message_body ?? '').length > 0;
      if (valid && (body.message_body ?? '').length <= 1000)
        return answer(202, { message_id: 'm-1', client_id: 'demo.default' });
      return answer(422, { error_code: 'INVALID_PAYLOAD' });
    },
    withoutCertificate: () => ({
      post: () => answer(401, { error_code: 'UNAUTHORIZED' }),
      close: () => Promise.resolve(),
    }),
    close: () => Promise.resolve(),
  };
  return client as unknown as ApiClient;
}

const healthCheck = async (health: ApiAnswer) => {
  const results = await runSelftest(brokerAnswering(health), { lookupTimeoutMs: 100 });
  expect(results.filter((r) => r.name !== 'health').every((r) => r.status === 'pass')).toBe(true);
  return results.find((r) => r.name === 'health')!;
};

describe('mb selftest: health', () => {
  it('passes when health is up', async () => {
    const result = await healthCheck({
      status: 200,
      body: { status: 'up', components: { redis: { status: 'up' } } },
      ms: 1,
    });
    expect(result).toMatchObject({ status: 'pass', ok: true, detail: 'status up, 1 components' });
  });

  it('warns, with the reason, when health is degraded by a certificate expiring within the week', async () => {
    const result = await healthCheck({ status: 200, body: CERT_DEGRADED, ms: 1 });
    expect(result).toMatchObject({ status: 'warn', ok: true });
    expect(result.detail).toBe(
      'status degraded: client_certificates degraded (expiring: alice.acme in 3 days, bob.acme in 20 days)',
    );
  });

  it('warns with the component and its problem, or its name alone when the details are not shown', async () => {
    const withProblem = await healthCheck({
      status: 200,
      body: { status: 'degraded', components: { webhook_transport: { status: 'degraded', problem: 'plain http' } } },
      ms: 1,
    });
    expect(withProblem).toMatchObject({
      status: 'warn',
      detail: 'status degraded: webhook_transport degraded (plain http)',
    });
    const statusesOnly = await healthCheck({
      status: 200,
      body: { status: 'degraded', components: { client_certificates: { status: 'degraded' } } },
      ms: 1,
    });
    expect(statusesOnly).toMatchObject({ status: 'warn', detail: 'status degraded: client_certificates degraded' });
  });

  it('fails when health is down', async () => {
    const result = await healthCheck({
      status: 503,
      body: {
        status: 'down',
        components: { redis: { status: 'down', problem: 'ECONNREFUSED' }, mysql: { status: 'up' } },
      },
      ms: 1,
    });
    expect(result).toMatchObject({
      status: 'fail',
      ok: false,
      detail: 'HTTP 503, status down: redis down (ECONNREFUSED)',
    });
  });

  it('fails on an answer that is not a health report', async () => {
    const result = await healthCheck({ status: 404, body: { error_code: 'NOT_FOUND' }, ms: 1 });
    expect(result).toMatchObject({ status: 'fail', ok: false, detail: 'HTTP 404, status ?' });
  });

  it('warns, naming the domain and its reasons, when the installation is up but a domain is degraded', async () => {
    const result = await healthCheck({
      status: 200,
      body: {
        status: 'up',
        components: { redis: { status: 'up' } },
        domains: {
          default: { status: 'up', reasons: [] },
          acme: { status: 'degraded', reasons: ['client certificate alice.acme expires in 3 days'] },
        },
      },
      ms: 1,
    });
    expect(result).toMatchObject({
      status: 'warn',
      ok: true,
      detail: 'status up; domains degraded: acme (client certificate alice.acme expires in 3 days)',
    });
  });
});
