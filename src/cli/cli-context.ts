/**
 * What a running `mb` command works with: the CA files, the database (created and
 * migrated if needed, so the CLI works before the broker's first start) and a Redis
 * connection opened only when a CRL has to be announced. The CLI signs offline with the
 * CA key; it never needs a running broker. Loaded lazily (see cli-support.ts).
 */
import { hostname, userInfo } from 'node:os';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { CertificateAuthority } from '../ca/ca.service.js';
import type { LifecycleDeps } from '../ca/ca-lifecycle.js';
import type { BrokerConfig } from '../config/config.js';
import { ensureDatabase, openDatabase, type DatabaseHandle } from '../db/database.js';
import { migrateDatabase } from '../db/migrate.js';
import { createLogger, type Logger } from '../logger.js';
import { CertStore } from '../pki/cert-store.js';
import { announceCrl } from '../queue/revocation-events.js';
import { createRedis, whenReady } from '../queue/redis-connection.js';

export interface CliContext {
  config: Readonly<BrokerConfig>;
  logger: Logger;
  store: CertStore;
  authority: CertificateAuthority;
  lifecycle: LifecycleDeps;
  /** Who the audit log names: `cli:<os user>`. */
  actor: string;
  close(): Promise<void>;
}

export async function openContext(config: Readonly<BrokerConfig>, verbose: boolean): Promise<CliContext> {
  // The command's own output says what happened; --verbose adds the log, on stderr so that
  // stdout stays the answer (and --json stays JSON).
  const logger = createLogger(verbose ? 'info' : 'silent', { actor: 'cli' }, pino.destination(2));
  await ensureDatabase(config.database.url);
  const database: DatabaseHandle = openDatabase({ url: config.database.url, poolSize: 3 });
  let redis: Redis | undefined;
  try {
    await migrateDatabase(database.db);
  } catch (error) {
    await database.close();
    throw error;
  }
  const store = new CertStore(config.pki.dir);
  const authority = new CertificateAuthority({
    config,
    store,
    db: database.db,
    logger,
    origin: `cli@${hostname()}`,
    announce: async (announcement) => {
      if (!redis) {
        redis = createRedis(config, 'ca', { retryStrategy: () => null });
        redis.on('error', () => undefined); // reported through the failed announcement
      }
      if (!(await whenReady(redis, 5000))) throw new Error(`Redis at ${config.redis.url} does not answer`);
      await announceCrl(redis, config.redis.key_prefix, announcement);
    },
  });
  return {
    config,
    logger,
    store,
    authority,
    lifecycle: { config, store, authority, logger },
    actor: `cli:${safeUserName()}`,
    close: async () => {
      redis?.disconnect();
      await database.close();
    },
  };
}

function safeUserName(): string {
  try {
    return userInfo().username;
  } catch {
    return String(process.getuid?.() ?? 'unknown');
  }
}
