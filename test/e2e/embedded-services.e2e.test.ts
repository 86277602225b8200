/**
 * Embedded defaults: nothing answers at the configured Redis and MariaDB addresses, the
 * servers are installed, so the broker starts its own under data/ (Redis with AOF), uses
 * them, and stops them when it stops.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createConnection } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeTcp } from '../../src/bootstrap/embedded-services.js';
import {
  BrokerProcess,
  createWorkspace,
  demoBundle,
  mtlsAgent,
  postJson,
  waitUntil,
  type Workspace,
} from '../support/broker-harness.js';
import { freePort } from '../support/redis-server.js';

let workspace: Workspace;
let broker: BrokerProcess;
let redisPort: number;
let mysqlPort: number;

beforeAll(async () => {
  redisPort = await freePort();
  mysqlPort = await freePort();
  workspace = await createWorkspace({
    redis: { url: `redis://127.0.0.1:${redisPort}`, embedded: 'auto' },
    database: { url: `mysql://root@127.0.0.1:${mysqlPort}/message_broker`, embedded: 'auto' },
  });
  broker = new BrokerProcess(workspace);
  await broker.start(120_000);
});

afterAll(async () => {
  await broker?.kill('SIGKILL');
  await workspace?.cleanup();
});

describe('embedded Redis and MariaDB', () => {
  it('starts its own servers under data/, stores through them, and stops them on exit', async () => {
    expect(broker.output).toContain('started embedded redis-server (AOF on)');
    expect(broker.output).toContain('started embedded mariadbd');
    expect(existsSync(join(workspace.dir, 'data/redis/appendonlydir'))).toBe(true);

    const agent = mtlsAgent(demoBundle(workspace));
    const response = await postJson(agent, broker.url, {
      sender_number: '+14155550123',
      message_body: 'through embedded servers',
    });
    await agent.close();
    expect(response.status).toBe(202);
    await waitUntil(
      async () => {
        const connection = await createConnection({ uri: `mysql://root@127.0.0.1:${mysqlPort}/message_broker` });
        try {
          const [rows] = (await connection.query('SELECT status FROM messages WHERE message_id = ?', [
            response.body.message_id,
          ])) as unknown as [Array<{ status: string }>];
          return rows[0]?.status === 'delivered' || undefined;
        } finally {
          await connection.end();
        }
      },
      20_000,
      'the message in the embedded database',
    );

    expect(await broker.kill('SIGTERM')).toBe(0);
    expect(await probeTcp('127.0.0.1', redisPort, 300)).toBe(false);
    expect(await probeTcp('127.0.0.1', mysqlPort, 300)).toBe(false);
  });
});
