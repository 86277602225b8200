/**
 * What every chaos scenario runs against: a test-owned redis-server (AOF), a database and
 * Redis key prefix of its own (the e2e workspace), and one or more real supervisors on
 * fixed ports (a restarted broker answers where the load already sends). Plus the
 * end-of-run reading of storage and the wait for the backlog to drain.
 */
import { Redis } from 'ioredis';
import { createConnection } from 'mysql2/promise';
import { domainKeys, DELIVERY_GROUP } from '../src/queue/keys.js';
import {
  BrokerProcess,
  createWorkspace,
  demoBundle,
  type ClientBundle,
  type Workspace,
} from '../test/support/broker-harness.js';
import { freePort, TestRedisServer } from '../test/support/redis-server.js';
import type { Ledger, StoredRow } from './ledger.js';
import { sleep } from './ledger-load.js';

export interface ChaosEnvironmentOptions {
  fsync?: 'everysec' | 'always';
  /** Config values merged over the workspace defaults. */
  values?: Record<string, unknown>;
  /** Extra environment of every broker. */
  env?: Record<string, string>;
  brokers?: number;
  /** Runs after the workspace exists and before any broker starts (e.g. to route MariaDB through a proxy). */
  prepare?: (workspace: Workspace, redis: TestRedisServer) => Promise<void> | void;
  /** Runs before redis-server first starts (e.g. to mount a small tmpfs on its dir). */
  beforeRedis?: (redis: TestRedisServer) => Promise<void> | void;
  /** Runs once redis-server is stopped for good, before its dir is removed (e.g. to unmount it). */
  afterRedis?: (redis: TestRedisServer) => Promise<void> | void;
}

export class ChaosEnvironment {
  readonly brokers: BrokerProcess[] = [];
  /** Where the queue is read at the end: the test-owned Redis, or (after a failover) the node promoted in its place. */
  queueRedisUrl: () => Promise<string> = async () => this.redis.url;
  readonly urls: string[] = [];
  bundle!: ClientBundle;

  private constructor(
    readonly redis: TestRedisServer,
    readonly workspace: Workspace,
    private readonly afterRedis?: (redis: TestRedisServer) => Promise<void> | void,
  ) {}

  static async create(options: ChaosEnvironmentOptions = {}): Promise<ChaosEnvironment> {
    const fsync = options.fsync ?? 'always';
    const redis = new TestRedisServer(await freePort(), fsync);
    try {
      await options.beforeRedis?.(redis);
      await redis.start();
    } catch (error) {
      await redis.stop('SIGKILL');
      await options.afterRedis?.(redis);
      await redis.destroy();
      throw error;
    }
    const workspace = await createWorkspace(
      { log: { level: 'warn' }, queue: { fsync }, ...(options.values ?? {}) },
      redis.url,
    );
    const environment = new ChaosEnvironment(redis, workspace, options.afterRedis);
    try {
      await options.prepare?.(workspace, redis);
      for (let i = 0; i < (options.brokers ?? 1); i++) {
        const port = await freePort();
        const broker = new BrokerProcess(workspace, {
          MB_SERVER_PORT: String(port),
          MB_INSTANCE_ID: `chaos-${i}`,
          ...(options.env ?? {}),
        });
        environment.brokers.push(broker);
        environment.urls.push(`https://localhost:${port}`);
        await broker.start();
      }
      environment.bundle = demoBundle(workspace);
    } catch (error) {
      await environment.destroy();
      throw error;
    }
    return environment;
  }

  /** Every message row: its message_id and the ledger request id carried in its metadata. */
  async readStored(): Promise<Array<StoredRow & { status: string }>> {
    const db = await createConnection({ uri: this.workspace.database.url });
    try {
      const [rows] = (await db.query(
        "SELECT message_id, status, JSON_UNQUOTE(JSON_EXTRACT(metadata, '$.chaos_request')) AS request_id FROM messages",
      )) as unknown as [Array<{ message_id: string; status: string; request_id: string | null }>];
      return rows.map((r) => ({ messageId: r.message_id, requestId: r.request_id, status: r.status }));
    } finally {
      await db.end();
    }
  }

  /** Entries read but not acknowledged, and entries not read yet, in the domain's consumer group. */
  queueBacklog(): Promise<number> {
    return this.withRedis(async (client, stream) => {
      const groups = (await client.call('XINFO', 'GROUPS', stream)) as unknown[][];
      const group = groups.map(toRecord).find((g) => g.name === DELIVERY_GROUP);
      if (!group) return 0;
      // lag is null when Redis cannot tell (after a rollback): count the stream then.
      const lag = group.lag === null ? Number(await client.xlen(stream)) : Number(group.lag);
      return Number(group.pending) + lag;
    });
  }

  /** Entries a consumer (a broker's instance_id) has read and not acknowledged. */
  pendingOf(consumer: string): Promise<number> {
    return this.withRedis(async (client, stream) => {
      const consumers = ((await client.call('XINFO', 'CONSUMERS', stream, DELIVERY_GROUP)) as unknown[][]).map(
        toRecord,
      );
      return Number(consumers.find((c) => c.name === consumer)?.pending ?? 0);
    });
  }

  private async withRedis<T>(use: (client: Redis, stream: string) => Promise<T>): Promise<T> {
    const client = new Redis(await this.queueRedisUrl(), { maxRetriesPerRequest: 1, lazyConnect: true });
    try {
      await client.connect();
      return await use(client, domainKeys(this.workspace.prefix, { key_prefix: 'default' }).stream);
    } finally {
      client.disconnect();
    }
  }

  /**
   * Waits until every acknowledged message is stored and delivered (`extra` may add a
   * condition, e.g. the downstream has it), the queue is empty and storage stopped
   * changing. Gives up after `timeoutMs` and lets the counts tell what is missing.
   */
  async waitForDrain(
    ledger: Ledger,
    timeoutMs: number,
    extra: () => boolean = () => true,
  ): Promise<{ drained: boolean; seconds: number }> {
    const started = Date.now();
    const acknowledged = ledger.acknowledgedIds();
    let lastCount = -1;
    let stableSince = Date.now();
    while (Date.now() - started < timeoutMs) {
      try {
        const rows = await this.readStored();
        const delivered = new Set(rows.filter((r) => r.status === 'delivered').map((r) => r.messageId));
        if (rows.length !== lastCount) {
          lastCount = rows.length;
          stableSince = Date.now();
        }
        const settled = Date.now() - stableSince > 3000;
        if (settled && acknowledged.every((id) => delivered.has(id)) && extra() && (await this.queueBacklog()) === 0) {
          return { drained: true, seconds: (Date.now() - started) / 1000 };
        }
      } catch {
        // A dependency still coming back: poll again.
      }
      await sleep(250);
    }
    return { drained: false, seconds: (Date.now() - started) / 1000 };
  }

  async destroy(): Promise<void> {
    await Promise.all(this.brokers.map((b) => b.kill('SIGKILL')));
    await this.workspace.cleanup();
    await this.redis.stop('SIGKILL');
    await this.afterRedis?.(this.redis);
    await this.redis.destroy();
  }
}

function toRecord(flat: unknown[]): Record<string, unknown> {
  const record: Record<string, unknown> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) record[String(flat[i])] = flat[i + 1];
  return record;
}
