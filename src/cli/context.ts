/**
 * What a CLI command needs, opened on demand and closed when it is done: the config
 * (same rules as the broker: --config, MB_CONFIG, ./config.yaml, MB_* variables), the
 * database and Redis.
 */
import type { Command } from 'commander';
import type { Redis } from 'ioredis';
import { loadConfig, type BrokerConfig } from '../config/config.js';
import { openDatabase, type DatabaseHandle } from '../db/database.js';
import { createRedis, whenReady } from '../queue/redis-connection.js';

export interface CliContext {
  config: Readonly<BrokerConfig>;
  database(): DatabaseHandle;
  redis(): Promise<Redis>;
  close(): Promise<void>;
}

export function openContext(command: Command): CliContext {
  const file = command.optsWithGlobals<{ config?: string }>().config;
  const config = loadConfig(file ? { file } : {});
  let database: DatabaseHandle | undefined;
  let redis: Redis | undefined;
  return {
    config,
    database: () => (database ??= openDatabase({ url: config.database.url, poolSize: 2 })),
    redis: async () => {
      if (!redis) {
        redis = createRedis(config, 'cli');
        redis.on('error', () => undefined);
        if (!(await whenReady(redis, 5000))) throw new Error(`Redis at ${config.redis.url} does not answer`);
      }
      return redis;
    },
    close: async () => {
      redis?.disconnect();
      await database?.close();
    },
  };
}

/** Runs a command body with a context and always closes it. */
export async function withContext<T>(command: Command, body: (context: CliContext) => Promise<T>): Promise<T> {
  const context = openContext(command);
  try {
    return await body(context);
  } finally {
    await context.close();
  }
}
