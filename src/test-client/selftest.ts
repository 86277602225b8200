/**
 * `mb selftest`: what a new installation must pass, run against its real URL with a real
 * client certificate. Each check is independent and says what it saw; the caller prints
 * PASS/WARN/FAIL per check and exits non-zero on any failure. A warning is something an
 * operator should read but that does not stop the installation from working: health
 * `degraded` (a client certificate expiring within a week, a webhook over plain http…).
 */
import { randomUUID } from 'node:crypto';
import { failureCode, type ApiAnswer, type ApiClient } from './api-client.js';

export type CheckStatus = 'pass' | 'warn' | 'fail';

export interface CheckResult {
  name: string;
  status: CheckStatus;
  /** False only for a failure: a warning passes. */
  ok: boolean;
  detail: string;
}

export interface SelftestOptions {
  /** How long the accepted message may take to become visible by its status. @defaultValue 10_000 */
  lookupTimeoutMs?: number;
}

/** What a check returns to pass with a warning. */
interface Warning {
  warn: string;
}

interface HealthBody {
  status?: string;
  components?: Record<string, HealthComponent>;
  /** Per-domain state (operators only); a degraded domain is a WARN, not the installation's status. */
  domains?: Record<string, { status?: string; reasons?: string[] }>;
}

interface HealthComponent {
  status?: string;
  problem?: unknown;
  expiring?: Array<{ common_name?: string; days_left?: number }>;
}

const VALID = { sender_number: '+14155550100', message_body: 'mb selftest' };

export async function runSelftest(client: ApiClient, options: SelftestOptions = {}): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const check = async (name: string, run: () => Promise<string | Warning>) => {
    try {
      const outcome = await run();
      if (typeof outcome === 'string') results.push({ name, status: 'pass', ok: true, detail: outcome });
      else results.push({ name, status: 'warn', ok: true, detail: outcome.warn });
    } catch (error) {
      results.push({ name, status: 'fail', ok: false, detail: (error as Error).message });
    }
  };
  let accepted: string | undefined;

  // Only an outage fails: `degraded` names something to act on while messages still flow.
  await check('health', async () => {
    const answer = await client.get('/api/v1/health');
    const body = answer.body as HealthBody;
    const components = Object.keys(body.components ?? {}).length;
    const reasons = notUp(body).join('; ');
    const domains = degradedDomains(body);
    if (answer.status === 200 && body.status === 'up' && domains.length > 0)
      return { warn: `status up; domains degraded: ${domains.join('; ')}` };
    if (answer.status === 200 && body.status === 'up') return `status up, ${components} components`;
    if (answer.status === 200 && body.status === 'degraded') return { warn: `status degraded: ${reasons}` };
    throw new Error(`HTTP ${answer.status}, status ${body.status ?? '?'}${reasons ? `: ${reasons}` : ''}`);
  });
  await check('ready', async () => {
    const answer = await client.get('/readyz');
    if (answer.status !== 200)
      throw new Error(`HTTP ${answer.status} ${JSON.stringify(answer.body.reasons ?? answer.body)}`);
    return 'ready';
  });
  await check('valid message accepted', async () => {
    const answer = await client.post('/api/v1/messages', { ...VALID, message_body: `mb selftest ${randomUUID()}` });
    if (answer.status !== 202 || typeof answer.body.message_id !== 'string') throw unexpected(answer, '202');
    accepted = answer.body.message_id;
    return `202 in ${Math.round(answer.ms)} ms, message_id ${accepted}, client ${String(answer.body.client_id)}`;
  });
  await check('visible by status lookup', async () => {
    if (!accepted) throw new Error('no accepted message to look up');
    const deadline = Date.now() + (options.lookupTimeoutMs ?? 10_000);
    let last: ApiAnswer | undefined;
    while (Date.now() < deadline) {
      last = await client.get(`/api/v1/messages/${accepted}`);
      if (last.status === 200 && last.body.message_id === accepted) return `status ${String(last.body.status)}`;
      // 404 while nothing stored it yet is fine for a moment; anything else is an answer.
      if (last.status !== 404) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    throw unexpected(last!, '200 with the message');
  });
  const refused = (name: string, body: unknown, status: number, code: string) =>
    check(name, async () => {
      const answer = await client.post('/api/v1/messages', body);
      if (answer.status !== status || answer.body.error_code !== code) throw unexpected(answer, `${status} ${code}`);
      return `${status} ${code}`;
    });
  await refused('invalid number refused', { ...VALID, sender_number: '0800-not-e164' }, 422, 'INVALID_PAYLOAD');
  await refused('empty body refused', { ...VALID, message_body: '' }, 422, 'INVALID_PAYLOAD');
  await refused('too long body refused', { ...VALID, message_body: 'x'.repeat(1001) }, 422, 'INVALID_PAYLOAD');
  await check('missing certificate refused', async () => {
    const anonymous = client.withoutCertificate();
    try {
      const answer = await anonymous.post('/api/v1/messages', VALID);
      if (answer.status !== 401 || answer.body.error_code !== 'UNAUTHORIZED')
        throw unexpected(answer, '401 UNAUTHORIZED');
      return '401 UNAUTHORIZED';
    } finally {
      await anonymous.close();
    }
  });
  return results;
}

/** Each component that is not up, with what it reports (details are there for an operator's request only). */
/** `acme (client certificate alice.acme expires in 3 days)` per domain that is not up. */
function degradedDomains(body: HealthBody): string[] {
  return Object.entries(body.domains ?? {})
    .filter(([, domain]) => domain.status !== 'up')
    .map(([name, domain]) => `${name}${domain.reasons?.length ? ` (${domain.reasons.join(', ')})` : ''}`);
}

function notUp(body: HealthBody): string[] {
  return Object.entries(body.components ?? {})
    .filter(([, component]) => component.status !== 'up')
    .map(([name, component]) => {
      const why = reasonOf(component);
      return `${name} ${component.status ?? '?'}${why ? ` (${why})` : ''}`;
    });
}

function reasonOf(component: HealthComponent): string | undefined {
  if (typeof component.problem === 'string') return component.problem;
  const expiring = component.expiring?.filter((c) => typeof c.days_left === 'number');
  if (expiring?.length)
    return `expiring: ${expiring
      .slice(0, 3)
      .map((c) => `${c.common_name ?? '?'} in ${c.days_left} days`)
      .join(', ')}${expiring.length > 3 ? ', …' : ''}`;
  return undefined;
}

function unexpected(answer: ApiAnswer, wanted: string): Error {
  return new Error(
    `expected ${wanted}, got ${answer.status} ${failureCode(answer)}${typeof answer.body.message === 'string' ? `: ${answer.body.message}` : ''}`,
  );
}
