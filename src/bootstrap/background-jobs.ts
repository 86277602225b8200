/**
 * The supervisor's background duties that are not on the message path (the retention
 * purge, for now). They run on the main thread: a few Redis and SQL round trips, not CPU.
 */
import type { Redis } from 'ioredis';
import type { LiveConfig } from '../config/live-config.js';
import type { DatabaseHandle } from '../db/database.js';
import type { Repositories } from '../db/index.js';
import { RetentionRepository } from '../db/retention.repository.js';
import type { Logger } from '../logger.js';
import { RetentionScheduler } from '../retention/retention.scheduler.js';
import { RetentionService } from '../retention/retention.service.js';

export interface BackgroundJobs {
  stop(): Promise<void>;
}

export async function startBackgroundJobs(deps: {
  /** Read at every tick; a reload that changes `retention` reschedules the purge. */
  config: LiveConfig;
  redis: Redis;
  database: DatabaseHandle;
  repositories: Pick<Repositories, 'clients' | 'audit'>;
  logger: Logger;
}): Promise<BackgroundJobs> {
  const { redis, logger } = deps;
  const retention = new RetentionScheduler({
    redis,
    logger,
    config: deps.config,
    service: new RetentionService({
      redis,
      retention: new RetentionRepository(deps.database.db),
      clients: deps.repositories.clients,
      audit: deps.repositories.audit,
    }),
  });
  retention.start();
  return {
    stop: async () => {
      await retention.stop();
    },
  };
}
