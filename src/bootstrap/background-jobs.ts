/**
 * The supervisor's background duties that are not on the message path (the retention
 * purge, for now). They run on the main thread: a few Redis and SQL round trips, not CPU.
 */
import type { Redis } from 'ioredis';
import type { BrokerConfig } from '../config/config.js';
import { AuditRepository } from '../db/audit.repository.js';
import { ClientsRepository } from '../db/clients.repository.js';
import type { DatabaseHandle } from '../db/database.js';
import { RetentionRepository } from '../db/retention.repository.js';
import type { Logger } from '../logger.js';
import { RetentionScheduler } from '../retention/retention.scheduler.js';
import { RetentionService } from '../retention/retention.service.js';

export interface BackgroundJobs {
  stop(): Promise<void>;
}

export async function startBackgroundJobs(deps: {
  config: () => Readonly<BrokerConfig>;
  redis: Redis;
  database: DatabaseHandle;
  logger: Logger;
}): Promise<BackgroundJobs> {
  const { redis, logger } = deps;
  const db = deps.database.db;
  const retention = new RetentionScheduler({
    redis,
    logger,
    config: deps.config,
    service: new RetentionService({
      redis,
      retention: new RetentionRepository(db),
      clients: new ClientsRepository(db),
      audit: new AuditRepository(db),
    }),
  });
  retention.start();
  return {
    stop: async () => {
      await retention.stop();
    },
  };
}
