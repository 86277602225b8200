/**
 * `mb selftest`: what a new installation must pass, run against its real URL with a real
 * client certificate. Each check is independent and says what it saw; the caller prints
 * PASS/FAIL per check and exits non-zero on any failure.
 */
import { randomUUID } from 'node:crypto';
import { failureCode, type ApiAnswer, type ApiClient } from './api-client.js';

export interface CheckResult {
  name: string;
  ok: boolean;
  detail: string;
}

export interface SelftestOptions {
  /** How long the accepted message may take to become visible by its status. @defaultValue 10_000 */
  lookupTimeoutMs?: number;
}

const VALID = { sender_number: '+14155550100', message_body: 'mb selftest' };

export async function runSelftest(client: ApiClient, options: SelftestOptions = {}): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const check = async (name: string, run: () => Promise<string>) => {
    try {
      results.push({ name, ok: true, detail: await run() });
    } catch (error) {
      results.push({ name, ok: false, detail: (error as Error).message });
    }
  };
  let accepted: string | undefined;

  await check('health', async () => {
    const answer = await client.get('/api/v1/health');
    const body = answer.body as { status?: string; components?: Record<string, { status?: string }> };
    const notUp = Object.entries(body.components ?? {})
      .filter(([, c]) => c.status !== 'up')
      .map(([name, c]) => `${name} ${c.status}`);
    if (answer.status !== 200 || body.status !== 'up')
      throw new Error(
        `HTTP ${answer.status}, status ${body.status ?? '?'}${notUp.length ? `: ${notUp.join(', ')}` : ''}`,
      );
    return `status up, ${Object.keys(body.components ?? {}).length} components`;
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

function unexpected(answer: ApiAnswer, wanted: string): Error {
  return new Error(
    `expected ${wanted}, got ${answer.status} ${failureCode(answer)}${typeof answer.body.message === 'string' ? `: ${answer.body.message}` : ''}`,
  );
}
