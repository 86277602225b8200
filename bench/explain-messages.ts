/**
 * Which index serves each read of `messages`: runs the repositories' real queries (the
 * portal's pages and counts, retention, key rotation, the status lookup, the delivery's
 * reads, restore's) against a test database of rows spread over domains, clients,
 * statuses, senders and 90 days, and prints MariaDB's EXPLAIN of each. A query that reads
 * the whole table shows `type ALL` (or an `index` scan of a whole index).
 *
 *   npx tsx bench/explain-messages.ts [--rows 60000] [--drop-index messages_key_id_idx]
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { drizzle } from '../src/db/drizzle.js';
import { format, type RowDataPacket } from 'mysql2/promise';
import { type Database, openDatabase } from '../src/db/database.js';
import { MessageKeysRepository } from '../src/db/message-keys.repository.js';
import { MessagePagesRepository } from '../src/db/message-pages.repository.js';
import { MessagesRepository } from '../src/db/messages.repository.js';
import { RetentionRepository } from '../src/db/retention.repository.js';
import * as schema from '../src/db/schema.js';
import type { NewMessageRow } from '../src/db/schema.js';
import { createTestDatabase } from '../test/support/test-database.js';

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '60000' },
    'drop-index': { type: 'string', multiple: true, default: [] },
  },
});

const DOMAINS = ['default', 'alerts.example.com', 'iot.example.net'];
const CLIENTS = 30;
const DAY_MS = 86_400_000;
const now = Date.now();
const senders = Array.from({ length: 2000 }, () => randomBytes(32).toString('hex'));

const database = await createTestDatabase();
const handle = openDatabase({ url: database.url, poolSize: 2 });
try {
  await handle.pool.query(
    `INSERT INTO clients (name, domain) VALUES ${Array.from({ length: CLIENTS }, (_, i) => `('c${i}', '${DOMAINS[i % DOMAINS.length]}')`).join(', ')}`,
  );
  const total = Number(args.rows);
  const writer = new MessagesRepository(handle.db);
  for (let done = 0; done < total; done += 500) {
    const rows = Array.from({ length: Math.min(500, total - done) }, (_, i): NewMessageRow => {
      const n = done + i;
      const client = 1 + (n % CLIENTS);
      const created = new Date(now - ((total - n) / total) * 90 * DAY_MS);
      // Mostly delivered; a few failed; webhook messages waiting.
      const status = n % 50 === 0 ? 'failed' : n % 20 === 0 ? 'queued' : 'delivered';
      return {
        message_id: randomUUID(),
        client_id: client,
        domain: DOMAINS[(client - 1) % DOMAINS.length]!,
        sender_hash: senders[n % senders.length]!,
        pepper_id: 'p1',
        sender_masked: '+141****0123',
        sender_enc: randomBytes(45),
        body_enc: randomBytes(200),
        key_id: n < total * 0.8 ? 'k1' : 'k2',
        status,
        queued_at: created,
        created_at: created,
        next_attempt_at: status === 'queued' ? created : null,
      };
    });
    await writer.insertBatch(rows);
  }
  for (const index of args['drop-index']) await handle.pool.query(`DROP INDEX ${index} ON messages`);
  await handle.pool.query('ANALYZE TABLE messages');

  // Repositories over a drizzle handle that records each statement with its parameters.
  const recorded: string[] = [];
  const db = drizzle(handle.pool, {
    schema,
    mode: 'default',
    logger: { logQuery: (query, params) => recorded.push(format(query, params as never[])) },
  }) as Database;
  const pages = new MessagePagesRepository(db);
  const retention = new RetentionRepository(db);
  const keys = new MessageKeysRepository(db);
  const messages = new MessagesRepository(db);
  const [sample] = await handle.pool.query<RowDataPacket[]>(
    'SELECT id, message_id, created_at FROM messages ORDER BY id DESC LIMIT 1 OFFSET 3000',
  );
  const cursor = { createdAt: sample[0]!['created_at'] as Date, id: Number(sample[0]!['id']) };
  const messageId = String(sample[0]!['message_id']);
  const week = { from: new Date(now - 7 * DAY_MS), to: new Date(now) };

  const cases: Array<[string, () => Promise<unknown>]> = [
    ['portal user: a client, newest', () => pages.page({ clientId: 4 }, { limit: 50 })],
    ['portal user: a client, next page', () => pages.page({ clientId: 4 }, { limit: 50, before: cursor })],
    ['portal user: a client, status failed', () => pages.page({ clientId: 4, status: 'failed' }, { limit: 50 })],
    ['portal user: a client, a week', () => pages.page({ clientId: 4, ...week }, { limit: 50 })],
    ['portal user: a client, a sender', () => pages.page({ clientId: 4, senderHashes: [senders[3]!] }, { limit: 50 })],
    ['portal admin: a domain, newest', () => pages.page({ domain: 'default' }, { limit: 50 })],
    ['portal admin: a domain, failed', () => pages.page({ domain: 'default', status: 'failed' }, { limit: 50 })],
    [
      'portal admin: a domain, failed, next',
      () => pages.page({ domain: 'default', status: 'failed' }, { limit: 50, before: cursor }),
    ],
    ['portal admin: a domain, a week', () => pages.page({ domain: 'default', ...week }, { limit: 50 })],
    ['portal superadmin: every domain', () => pages.page({}, { limit: 50 })],
    ['portal: message detail', () => pages.findVisible(messageId, { domain: 'default' })],
    ['portal stats: last 24 h, a domain', () => pages.countSince(new Date(now - DAY_MS), 'default')],
    ['portal stats: last 24 h, all', () => pages.countSince(new Date(now - DAY_MS))],
    [
      'retention: expired rows of a domain',
      () => retention.selectExpired('default', new Date(now - 60 * DAY_MS), 1000),
    ],
    ['erasure: a client, all', () => retention.selectForClient(4, 1000, true)],
    ['erasure: a client, not pending', () => retention.selectForClient(4, 1000, false)],
    ['erasure: a client, pending count', () => retention.countPendingForClient(4)],
    ['keys: rows per key_id', () => keys.countById('key_id')],
    ['keys: key_id referenced', () => keys.isReferenced('key_id', 'k1')],
    ['keys: page under key_id', () => keys.pageUnder('key_id', 'k1', 1000, 500)],
    ['status lookup / delivery: findOne', () => messages.findOne(messageId)],
    ['delivery: findByMessageIds', () => messages.findByMessageIds([messageId, randomUUID()])],
    ['stats: countByStatus(domain)', () => messages.countByStatus('default')],
  ];
  const explain = async (label: string, sql: string) => {
    const [plan] = await handle.pool.query<RowDataPacket[]>(`EXPLAIN ${sql}`);
    for (const step of plan) {
      const full = step['type'] === 'ALL' || step['type'] === 'index';
      console.log(
        `${full ? '!' : ' '} ${label.padEnd(40)} ${String(step['type']).padEnd(12)} ${String(step['key'] ?? '-').padEnd(36)} rows ${String(step['rows']).padStart(6)}  ${step['Extra'] ?? ''}`,
      );
    }
  };
  console.log(`${total} rows${args['drop-index'].length ? `, without ${args['drop-index'].join(', ')}` : ''}`);
  for (const [label, run] of cases) {
    recorded.length = 0;
    await run();
    for (const sql of recorded.filter((s) => /^select/i.test(s))) await explain(label, sql);
  }
  await explain(
    'restore: queued of a domain',
    format("SELECT message_id, next_attempt_at FROM messages WHERE domain = ? AND status = 'queued'", ['default']),
  );
} finally {
  await handle.close();
  await database.drop();
}
