/**
 * Keyset pages over (created_at, id): complete and in order in both directions, with ties
 * on created_at, filters, scoping, the all-domains merge, and index use (EXPLAIN).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { drizzle } from '../../src/db/drizzle.js';
import type { RowDataPacket } from 'mysql2/promise';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/database.js';
import * as schema from '../../src/db/schema.js';
import { ClientsRepository } from '../../src/db/clients.repository.js';
import {
  MessagePagesRepository,
  type MessageCursor,
  type MessageListRow,
  type MessagePageFilter,
} from '../../src/db/message-pages.repository.js';
import { MessagesRepository } from '../../src/db/messages.repository.js';
import type { MessageStatus, NewMessageRow } from '../../src/db/schema.js';
import { useTestDatabase } from '../support/test-fixtures.js';

const { handle } = useTestDatabase({ poolSize: 4 });
const pages = new MessagePagesRepository(handle.db);
const SENDER_A = 'a'.repeat(64);
const SENDER_B = 'b'.repeat(64);
const T0 = Date.parse('2030-03-01T00:00:00Z');
/** What was inserted, for expectations: [client, domain, created_at, sender hash, status]. */
const inserted: Array<{
  message_id: string;
  client_id: number;
  domain: string;
  created_at: Date;
  sender_hash: string;
  status: MessageStatus;
}> = [];

beforeAll(async () => {
  const clients = new ClientsRepository(handle.db);
  const c1 = await clients.create({ name: 'c1', domain: 'alpha' });
  const c2 = await clients.create({ name: 'c2', domain: 'alpha' });
  const c3 = await clients.create({ name: 'c3', domain: 'beta' });
  const rows: NewMessageRow[] = [];
  const statuses: MessageStatus[] = ['delivered', 'queued', 'failed'];
  for (let i = 0; i < 120; i++) {
    const client = [c1, c2, c3][i % 3]!;
    // Every four messages share a millisecond: ties must still page exactly.
    const created_at = new Date(T0 + Math.floor(i / 4) * 3_600_000);
    const row = {
      message_id: randomUUID(),
      client_id: client,
      domain: client === c3 ? 'beta' : 'alpha',
      sender_hash: i % 5 === 0 ? SENDER_A : i % 7 === 0 ? SENDER_B : randomBytes(32).toString('hex'),
      status: statuses[i % 3]!,
      created_at,
    };
    inserted.push(row);
    rows.push({
      ...row,
      pepper_id: 'p1',
      sender_masked: '+1****0000',
      sender_enc: randomBytes(40),
      body_enc: randomBytes(80),
      key_id: 'k1',
      queued_at: created_at,
    });
  }
  // Shuffled insert order: ids do not follow time.
  await new MessagesRepository(handle.db).insertBatch(rows.sort(() => Math.random() - 0.5));
});

const cursorOf = (r: MessageListRow): MessageCursor => ({ createdAt: r.created_at, id: r.id });
const newestFirst = (a: MessageListRow, b: MessageListRow) =>
  b.created_at.getTime() - a.created_at.getTime() || b.id - a.id;

async function walk(filter: MessagePageFilter, limit: number): Promise<MessageListRow[]> {
  const all: MessageListRow[] = [];
  let before: MessageCursor | undefined;
  for (;;) {
    const page = await pages.page(filter, { limit, ...(before ? { before } : {}) });
    all.push(...page.rows);
    if (!page.more) return all;
    before = cursorOf(page.rows.at(-1)!);
  }
}

describe('MessagePagesRepository.page', () => {
  it('walks every message of a client exactly once, newest first, across created_at ties', async () => {
    const clientId = inserted[0]!.client_id;
    const rows = await walk({ clientId }, 7);
    const expected = inserted.filter((m) => m.client_id === clientId);
    expect(rows).toHaveLength(expected.length);
    expect(new Set(rows.map((r) => r.message_id))).toEqual(new Set(expected.map((m) => m.message_id)));
    expect([...rows].sort(newestFirst)).toEqual(rows);
    expect(rows.every((r) => r.client_id === clientId)).toBe(true);
  });

  it('pages back towards newer messages from any cursor (the "Newer" link)', async () => {
    const all = await walk({ domain: 'alpha' }, 500);
    const middle = all[40]!;
    const newer = await pages.page({ domain: 'alpha' }, { limit: 10, after: cursorOf(middle) });
    expect(newer.rows.map((r) => r.message_id)).toEqual(all.slice(30, 40).map((r) => r.message_id));
    expect(newer.more).toBe(true);
    const first = await pages.page({ domain: 'alpha' }, { limit: 10, after: cursorOf(all[5]!) });
    expect(first.rows.map((r) => r.message_id)).toEqual(all.slice(0, 5).map((r) => r.message_id));
    expect(first.more).toBe(false);
  });

  it('merges every domain in one order for a superadmin', async () => {
    const rows = await walk({}, 13);
    expect(rows).toHaveLength(120);
    expect([...rows].sort(newestFirst)).toEqual(rows);
  });

  it('filters by status, date range and sender hashes, and an empty hash list matches nothing', async () => {
    const failed = await walk({ domain: 'alpha', status: 'failed' }, 10);
    expect(failed.length).toBe(inserted.filter((m) => m.domain === 'alpha' && m.status === 'failed').length);
    const from = new Date(T0 + 5 * 3_600_000);
    const to = new Date(T0 + 10 * 3_600_000);
    const ranged = await walk({ domain: 'beta', from, to }, 4);
    expect(ranged.length).toBe(
      inserted.filter((m) => m.domain === 'beta' && m.created_at >= from && m.created_at < to).length,
    );
    const bySender = await walk({ senderHashes: [SENDER_A, SENDER_B] }, 5);
    expect(bySender.length).toBe(
      inserted.filter((m) => m.sender_hash === SENDER_A || m.sender_hash === SENDER_B).length,
    );
    expect((await pages.page({ senderHashes: [] }, { limit: 10 })).rows).toEqual([]);
  });

  it('finds one message only inside the given client or domain', async () => {
    const m = inserted.find((x) => x.domain === 'beta')!;
    expect((await pages.findVisible(m.message_id, { domain: 'beta' }))?.message_id).toBe(m.message_id);
    expect(await pages.findVisible(m.message_id, { domain: 'alpha' })).toBeUndefined();
    expect(await pages.findVisible(m.message_id, { clientId: m.client_id + 1 })).toBeUndefined();
    expect((await pages.findVisible(m.message_id, {}))?.message_id).toBe(m.message_id);
  });

  it('counts recent messages by status', async () => {
    const counts = await pages.countSince(new Date(T0 + 20 * 3_600_000), 'alpha');
    const expected = inserted.filter((m) => m.domain === 'alpha' && m.created_at.getTime() >= T0 + 20 * 3_600_000);
    expect(counts.delivered + counts.queued + counts.failed).toBe(expected.length);
    expect(await pages.domains()).toEqual(['alpha', 'beta']);
  });

  it('reads a deep page as a range of the (client|domain|sender, created_at, id) index, not a walk from the newest row or a sort', async () => {
    // 3000 more rows for one client, so the optimizer has a real choice to make.
    const clientId = inserted[0]!.client_id;
    await new MessagesRepository(handle.db).insertBatch(
      Array.from({ length: 3000 }, (_, i) => {
        const at = new Date(T0 - i * 60_000);
        return {
          message_id: randomUUID(),
          client_id: clientId,
          domain: 'alpha',
          sender_hash: randomBytes(32).toString('hex'),
          pepper_id: 'p1',
          sender_masked: '+1****0000',
          sender_enc: randomBytes(40),
          body_enc: randomBytes(80),
          key_id: 'k1',
          queued_at: at,
          created_at: at,
        };
      }),
    );
    await handle.pool.query('ANALYZE TABLE messages');
    const statements: Array<[string, unknown[]]> = [];
    const logged = drizzle(handle.pool, {
      schema,
      mode: 'default',
      logger: { logQuery: (query, params) => statements.push([query, params]) },
    }) as Database;
    const deep = (await walk({ clientId }, 1000))[1500]!;
    for (const filter of [
      { clientId, domain: 'alpha' },
      { domain: 'alpha' },
      { domain: 'alpha', senderHashes: [SENDER_A] },
    ] as MessagePageFilter[]) {
      statements.length = 0;
      const page = await new MessagePagesRepository(logged).page(filter, {
        limit: 50,
        before: filter.senderHashes ? { createdAt: new Date(T0 + 90 * 3_600_000), id: 1e9 } : cursorOf(deep),
      });
      expect(page.rows.length).toBeGreaterThan(0);
      const [ids] = statements[0]!;
      expect(ids).toMatch(/^select `id` from `messages`/);
      const [plan] = await handle.pool.query<RowDataPacket[]>(`EXPLAIN ${ids}`, statements[0]![1]);
      // By sender: that sender's (sender_hash, created_at, id) range, the scope checked on its rows.
      const index = filter.senderHashes
        ? 'messages_sender_created_idx'
        : filter.clientId === undefined
          ? 'messages_domain_created_idx'
          : 'messages_client_created_idx';
      expect(plan[0]!['key']).toBe(index);
      expect(['range', 'ref']).toContain(plan[0]!['type']);
      if (!filter.senderHashes) expect(String(plan[0]!['Extra'])).toContain('Using index');
      expect(String(plan[0]!['Extra'])).not.toMatch(/filesort/);
    }
  });
});
