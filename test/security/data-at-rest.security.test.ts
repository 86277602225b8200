/**
 * Data at rest. Messages with distinctive bodies and numbers go through the real broker
 * (mTLS → Redis → delivery → MariaDB); afterwards
 *
 * - a `mariadb-dump` of the database, every key the broker left in Redis, and the
 *   broker's log hold none of the plaintext bodies or numbers;
 * - the stored envelopes open with the broker's keys to exactly what was sent (so the
 *   absence above is encryption, not loss);
 * - swapping two rows' ciphertexts in SQL makes both fail to decrypt: the message id is
 *   the AAD, so a ciphertext cannot be moved to another row — checked with the
 *   decrypting service on the broker's rows, and in the portal's message view.
 */
import { execFile } from 'node:child_process';
import { randomInt, randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { createConnection } from 'mysql2/promise';
import { Redis } from 'ioredis';
import type { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BrokerProcess,
  createWorkspace,
  demoBundle,
  mtlsAgent,
  postJson,
  waitUntil,
  type Workspace,
} from '../support/broker-harness.js';
import { PortalClient } from '../support/portal-client.js';
import { HttpsPortalClient } from '../support/portal-https.js';
import { startPortalHarness, type PortalHarness } from '../support/portal-harness.js';
import { openStored, storedCount, storedRows, type StoredRow } from '../support/stored-messages.js';

const run = promisify(execFile);
const COUNT = 24;

let workspace: Workspace;
let broker: BrokerProcess;
let agent: Agent;
const sent: Array<{ message_id: string; sender_number: string; message_body: string }> = [];

beforeAll(async () => {
  workspace = await createWorkspace();
  broker = new BrokerProcess(workspace);
  await broker.start();
  agent = mtlsAgent(demoBundle(workspace), 4);
  for (let i = 0; i < COUNT; i++) {
    // Numbers no other test uses, bodies with a unique canary (some with non-ASCII text).
    const sender_number = `+1${randomInt(200, 999)}${String(randomInt(0, 10_000_000)).padStart(7, '0')}`;
    const message_body = `at-rest canary ${randomUUID()}${i % 3 === 0 ? ' — grüße 🙂' : ''}`;
    const headers: Record<string, string> = i % 2 === 0 ? { 'idempotency-key': randomUUID() } : {};
    const response = await postJson(agent, broker.url, { sender_number, message_body, metadata: { n: i } }, headers);
    expect(response.status).toBe(202);
    sent.push({ message_id: String(response.body.message_id), sender_number, message_body });
  }
  await waitUntil(async () => (await storedCount(workspace)) >= COUNT, 60_000, `${COUNT} stored messages`);
});

afterAll(async () => {
  await agent?.close();
  await broker?.kill('SIGTERM');
  await workspace?.cleanup();
});

/** Each plaintext as it could appear: the body, the number with and without its +. */
function plaintexts(): string[] {
  return sent.flatMap((m) => [
    m.message_body,
    m.message_body.split(' ')[2]!,
    m.sender_number,
    m.sender_number.slice(1),
  ]);
}

function expectNoPlaintext(haystack: string, where: string): void {
  for (const secret of plaintexts()) expect(haystack.includes(secret), `${where} contains "${secret}"`).toBe(false);
}

/** Everything under the workspace's key prefix, whatever the key type. */
async function redisContents(): Promise<string> {
  const redis = new Redis(workspace.redisUrl);
  try {
    const parts: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${workspace.prefix}*`, 'COUNT', 1000);
      cursor = next;
      for (const key of keys) {
        const type = await redis.type(key);
        const value =
          type === 'string'
            ? await redis.getBuffer(key)
            : type === 'hash'
              ? await redis.hgetall(key)
              : type === 'stream'
                ? await redis.xrange(key, '-', '+')
                : type === 'zset'
                  ? await redis.zrange(key, '0', '-1')
                  : type === 'list'
                    ? await redis.lrange(key, 0, -1)
                    : type === 'set'
                      ? await redis.smembers(key)
                      : null;
        parts.push(
          key,
          Buffer.isBuffer(value) ? value.toString('latin1') + value.toString('utf8') : JSON.stringify(value),
        );
      }
    } while (cursor !== '0');
    return parts.join('\n');
  } finally {
    redis.disconnect();
  }
}

describe('what an attacker with a copy of the stores would read', () => {
  it('the stored envelopes open to exactly what was sent', async () => {
    const opened = await openStored(workspace, await storedRows(workspace));
    expect(opened.length).toBe(COUNT);
    for (const message of sent) expect(opened).toContainEqual(message);
  });

  it('a mariadb-dump of the database holds no body and no number', async () => {
    const { stdout } = await run(
      'mariadb-dump',
      [
        '--host=127.0.0.1',
        '--port=3306',
        '--user=root',
        '--single-transaction',
        '--skip-extended-insert',
        workspace.database.name,
      ],
      {
        maxBuffer: 256 * 1024 * 1024,
        encoding: 'buffer',
      },
    );
    const dump = stdout as unknown as Buffer;
    expect(dump.toString('utf8')).toContain('INSERT INTO `messages`');
    // Binary columns are written raw: search the bytes as UTF-8 and as Latin-1.
    expectNoPlaintext(dump.toString('utf8'), 'the dump');
    expectNoPlaintext(dump.toString('latin1'), 'the dump (latin1)');
  });

  it('nor do the Redis keys the broker keeps, nor its log', async () => {
    const contents = await redisContents();
    expect(contents.length).toBeGreaterThan(0);
    expectNoPlaintext(contents, 'Redis');
    expectNoPlaintext(broker.output, 'the broker log');
  });
});

describe('AAD binds a ciphertext to its row', () => {
  it('swapping two rows’ ciphertexts in SQL makes both fail to decrypt; an untouched row still opens', async () => {
    const rows = await storedRows(workspace);
    const [a, b, untouched] = rows as [StoredRow, StoredRow, StoredRow];
    await swapCiphertexts(workspace.database.url, a, b);
    const opened = await openStored(workspace, await storedRows(workspace));
    const byId = new Map(opened.map((m) => [m.message_id, m]));
    for (const row of [a, b])
      expect(byId.get(row.message_id)).toEqual({
        message_id: row.message_id,
        message_body: undefined,
        sender_number: undefined,
      });
    expect(byId.get(untouched.message_id)!.message_body).toBe(
      sent.find((m) => m.message_id === untouched.message_id)!.message_body,
    );

    // The running broker says so too: its portal shows the row as undecryptable, and the
    // encryption actor logs the message id (an operator sees it; an alert counts it).
    const portalAgent = mtlsAgent({ ca: demoBundle(workspace).ca });
    try {
      const portal = await HttpsPortalClient.signedInAsFirstAdmin(broker.url, portalAgent, broker.output);
      expect((await portal.get(`/portal/messages/${a.message_id}`)).body).toContain('cannot be decrypted');
      await waitUntil(
        async () => /messages could not be decrypted/.test(broker.output) || undefined,
        10_000,
        'the decryption failure to be logged',
      );
      expect(broker.output).toContain(a.message_id);
      // With why and what to do: a moved ciphertext fails authentication, no key is missing.
      const line = broker.output.split('\n').find((l) => l.includes('messages could not be decrypted'))!;
      expect(JSON.parse(line)).toMatchObject({
        reasons: expect.any(Object),
        what_to_do: expect.stringContaining('secrets.dir'),
      });
    } finally {
      await portalAgent.close();
    }
  });

  describe('in the portal', () => {
    let h: PortalHarness;
    beforeAll(async () => {
      h = await startPortalHarness();
    });
    afterAll(async () => {
      await h?.close();
    });

    it('shows a moved ciphertext as "cannot be decrypted", never as the other row’s text', async () => {
      const bodies = ['portal aad first', 'portal aad second', 'portal aad control'];
      const ids = await h.addMessages(
        h.seed.clients.a1,
        'alpha',
        bodies.map((body, i) => ({ body, sender: `+1415555017${i}` })),
      );
      const [[first, second]] = (await h.handle.pool.query(
        'SELECT id, message_id, body_enc, sender_enc FROM messages WHERE message_id IN (?, ?) ORDER BY id',
        [ids[0], ids[1]],
      )) as unknown as [[StoredRow, StoredRow]];
      await swapCiphertexts(h.database.url, first, second);
      const admin = await PortalClient.signedIn(h.app, 'admin@alpha.test');
      for (const id of [ids[0]!, ids[1]!]) {
        const page = await admin.get(`/portal/messages/${id}`);
        expect(page.statusCode).toBe(200);
        expect(page.body).toContain('cannot be decrypted');
        expect(page.body).not.toContain('portal aad first');
        expect(page.body).not.toContain('portal aad second');
      }
      const control = await admin.get(`/portal/messages/${ids[2]}`);
      expect(control.body).toContain('portal aad control');
      const list = await admin.get('/portal/messages');
      expect(list.statusCode).toBe(200);
      expect(list.body).toContain('portal aad control');
      expect(list.body).not.toContain('portal aad first');
    });
  });
});

/** What an attacker with write access to the table would try: move a ciphertext to another row. */
async function swapCiphertexts(url: string, a: StoredRow, b: StoredRow): Promise<void> {
  const connection = await createConnection({ uri: url });
  try {
    await connection.query('UPDATE messages SET body_enc = ?, sender_enc = ? WHERE id = ?', [
      b.body_enc,
      b.sender_enc,
      a.id,
    ]);
    await connection.query('UPDATE messages SET body_enc = ?, sender_enc = ? WHERE id = ?', [
      a.body_enc,
      a.sender_enc,
      b.id,
    ]);
  } finally {
    await connection.end();
  }
}
