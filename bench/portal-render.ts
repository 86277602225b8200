/**
 * Server time of the portal's messages list with many rows in the table.
 *
 *   npm run bench:portal                 # 100 000 messages, 40 requests per case
 *   npm run bench:portal -- --rows 1000000 --iterations 20
 *
 * Real everything except the network: its own MariaDB database and Redis prefix, the
 * real encryption actor (every row sealed by it, every page opened by it), the real
 * front with the portal, driven by inject(). The time per request is what the server
 * spends: session check (JWT + user row), the keyset query, one encryption round trip
 * for the page's bodies, the audit row (admins), and the Eta render. Not a test: a
 * report, compared by hand with the target (under 100 ms).
 */
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import type { MessageStatus } from '../src/db/schema.js';
import { PortalClient } from '../test/support/portal-client.js';
import { startPortalHarness } from '../test/support/portal-harness.js';

const { values } = parseArgs({
  options: { rows: { type: 'string', default: '100000' }, iterations: { type: 'string', default: '40' } },
});
const ROWS = Number(values.rows);
const ITERATIONS = Number(values.iterations);
const BATCH = 2000;
const DAY = 86_400_000;

const h = await startPortalHarness();
try {
  const { a1, a2, b1 } = h.seed.clients;
  const started = Date.now();
  const now = Date.now();
  // 60% of the rows belong to the benchmark user's client, spread over 90 days.
  for (let done = 0; done < ROWS; done += BATCH) {
    const n = Math.min(BATCH, ROWS - done);
    const byClient = new Map<number, Array<{ body: string; sender: string; status: MessageStatus; createdAt: Date }>>();
    for (let i = done; i < done + n; i++) {
      const client = i % 5 < 3 ? a1 : i % 5 === 3 ? a2 : b1;
      const list = byClient.get(client) ?? [];
      list.push({
        body: `Your verification code is ${100000 + (i % 899999)}. It expires in 10 minutes. Message ${i}.`,
        sender: i % 97 === 0 ? '+447700900123' : `+1415${String(1000000 + (i % 8999999)).padStart(7, '0')}`,
        status: i % 50 === 0 ? 'failed' : i % 23 === 0 ? 'queued' : 'delivered',
        createdAt: new Date(now - 90 * DAY + Math.floor((i / ROWS) * 90 * DAY)),
      });
      byClient.set(client, list);
    }
    for (const [client, items] of byClient) await h.addMessages(client, client === b1 ? 'beta' : 'alpha', items);
    if ((done / BATCH) % 10 === 0) process.stdout.write(`\rseeded ${done + n} / ${ROWS}`);
  }
  process.stdout.write(`\rseeded ${ROWS} rows in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  await h.handle.pool.query('ANALYZE TABLE messages');

  const user = await PortalClient.signedIn(h.app, 'user@alpha.test');
  const admin = await PortalClient.signedIn(h.app, 'admin@alpha.test');
  const root = await PortalClient.signedIn(h.app, 'root@test');
  const sender = await (async () => {
    await user.get('/portal/messages');
    return (await user.post('/portal/messages/search', { sender: '+447700900123', status: '', from: '', to: '' }))
      .headers.location!;
  })();
  const middle = await (async () => {
    const [rows] = (await h.handle.pool.query(
      'SELECT created_at, id FROM messages WHERE client_id = ? ORDER BY created_at DESC, id DESC LIMIT 1 OFFSET ?',
      [a1, Math.floor((ROWS * 0.6) / 2)],
    )) as unknown as [Array<{ created_at: Date; id: number }>];
    return `${rows[0]!.created_at.getTime()}-${rows[0]!.id}`;
  })();
  const cases: Array<[string, PortalClient, string]> = [
    ['user: first page', user, '/portal/messages'],
    ['user: page in the middle (keyset)', user, `/portal/messages?before=${middle}`],
    ['user: status = failed', user, '/portal/messages?status=failed'],
    ['user: 30-day date range', user, `/portal/messages?from=${day(now - 45 * DAY)}&to=${day(now - 15 * DAY)}`],
    ['user: by sender (keyed hash)', user, sender],
    ['admin: whole domain (+ audit row)', admin, '/portal/messages'],
    ['superadmin: every domain (merge)', root, '/portal/messages'],
    ['user: one message', user, ''],
  ];
  const firstId = /data-href="\/portal\/messages\/([0-9a-f-]{36})"/.exec(
    (await user.get('/portal/messages')).body,
  )![1]!;
  cases[cases.length - 1]![2] = `/portal/messages/${firstId}`;

  console.log(
    `\n${ROWS.toLocaleString('en-US')} messages · ${ITERATIONS} requests per case · server time per request (inject, no network)`,
  );
  console.log(
    `load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')} on ${cpus().length} cores; cpu = this process's CPU per request (front + actors, not MariaDB)\n`,
  );
  console.log(
    `${'case'.padEnd(38)} ${'min ms'.padStart(8)} ${'p50 ms'.padStart(8)} ${'p95 ms'.padStart(8)} ${'cpu ms'.padStart(8)}  rows`,
  );
  for (const [name, client, url] of cases) {
    for (let i = 0; i < 3; i++) await client.get(url); // warm-up: template cache, pool, JIT
    const times: number[] = [];
    let rows = 0;
    const cpu0 = process.cpuUsage();
    for (let i = 0; i < ITERATIONS; i++) {
      const t0 = process.hrtime.bigint();
      const response = await client.get(url);
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
      if (response.statusCode !== 200) throw new Error(`${name}: ${response.statusCode}`);
      rows = (response.body.match(/<tr data-href=/g) ?? []).length;
    }
    const cpu = process.cpuUsage(cpu0);
    times.sort((a, b) => a - b);
    const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))]!;
    const cpuMs = (cpu.user + cpu.system) / 1000 / ITERATIONS;
    console.log(
      `${name.padEnd(38)} ${times[0]!.toFixed(1).padStart(8)} ${at(0.5).toFixed(1).padStart(8)} ${at(0.95).toFixed(1).padStart(8)} ${cpuMs.toFixed(1).padStart(8)}  ${rows}`,
    );
  }
} finally {
  await h.close();
}

function day(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}
