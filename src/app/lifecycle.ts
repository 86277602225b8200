/**
 * The broker's dependencies coming up and everything going down, in order. The
 * composition root (compose.ts) calls the start steps in this order:
 *
 *   embedded Redis/MariaDB (if needed) → database + migrations → Redis + durability
 *   → actors … → front listens → background jobs
 *
 * and `stopBroker` takes it all down: no new connections and no background work first,
 * requests in flight answered, then the actors drain their batches, then the connections
 * and the embedded services close.
 */
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { ActorGraph } from '../actors/actor-graph.js';
import type { BackgroundJobs } from '../bootstrap/background-jobs.js';
import { ensureMariadb, ensureRedis, type EmbeddedService } from '../bootstrap/embedded-services.js';
import type { BrokerConfig } from '../config/config.js';
import type { LiveConfig } from '../config/live-config.js';
import type { OnDemandActor } from '../actors/on-demand.js';
import { ensureDatabase, openBrokerDatabase, type DatabaseHandle } from '../db/database.js';
import { migrateDatabase } from '../db/migrate.js';
import type { InstanceHeartbeat } from '../health/instance-heartbeat.js';
import type { RevocationListener } from '../http/revocation-listener.js';
import type { Logger } from '../logger.js';
import { ensureDurability, type DurabilityState } from '../queue/durability.js';
import { WritabilityWatch } from '../queue/redis-writability.js';
import { EventPressure } from '../queue/event-pressure.js';
import { createRedis, logConnectionChanges, whenReady } from '../queue/redis-connection.js';
import type { EventHub } from '../events/event-hub.js';

/** Local Redis and MariaDB started under data/ where none runs (the embedded default). */
export async function startEmbeddedServices(
  config: Readonly<BrokerConfig>,
  logger: Logger,
): Promise<EmbeddedService[]> {
  const embedded: EmbeddedService[] = [];
  for (const ensure of [ensureRedis, ensureMariadb]) {
    const service = await ensure(config, logger);
    if (service) embedded.push(service);
  }
  return embedded;
}

/** The database, created if missing and migrated to this release's schema. */
export async function openStorage(config: Readonly<BrokerConfig>, logger: Logger): Promise<DatabaseHandle> {
  await ensureDatabase(config.database.url);
  const database = openBrokerDatabase(config, logger);
  await migrateDatabase(database.db);
  return database;
}

/** The front's Redis connection, and whether Redis keeps what a 202 promises. */
export interface FrontRedis {
  redis: Redis;
  durability: DurabilityWatch;
}

export async function connectRedis(config: Readonly<BrokerConfig>, logger: Logger): Promise<FrontRedis> {
  const redis = createRedis(config, 'front');
  redis.on('error', (error) => logger.debug({ err: error.message }, 'redis connection error'));
  if (!(await whenReady(redis, 10_000))) throw new Error(`Redis at ${config.redis.url} does not answer`);
  logConnectionChanges(redis, logger);
  const state = await ensureDurability(redis, config.queue.fsync, config.redis.manage_persistence);
  if (state.changed.length > 0) logger.warn({ changed: state.changed }, 'turned Redis persistence on for durable 202s');
  if (!state.durable)
    logger.error({ problem: state.problem }, 'Redis is NOT durable: acknowledged messages may be lost');
  const writability = new WritabilityWatch(redis, {
    manage: config.redis.manage_persistence,
    limits: { maxBacklogBytes: config.redis.max_backlog_bytes, maxMemoryPercent: config.redis.max_memory_percent },
    replicas: config.queue.replicas,
    logger,
    pressure: new EventPressure(redis, config.redis.key_prefix, config.events.retention_ms, logger),
  });
  await writability.start();
  return { redis, durability: new DurabilityWatch(redis, config, state, writability, logger) };
}

/**
 * Redis' persistence as last seen; re-checked now and then — someone may turn AOF off under
 * us — and at once after every reconnect: a Redis that comes back may have been restarted
 * with another config (AOF off) or an empty dataset. With `redis.manage_persistence` AOF is
 * turned on again, as at start; each change is logged once. `writability` says, within a
 * second, whether Redis can keep a message at all.
 */
export class DurabilityWatch {
  private timer: NodeJS.Timeout | undefined;
  private checking = false;
  private readonly onReady = () => void this.check();

  constructor(
    private readonly redis: Redis,
    private readonly config: Readonly<BrokerConfig>,
    public state: DurabilityState | undefined,
    readonly writability: WritabilityWatch,
    private readonly logger: Logger,
  ) {}

  watch(intervalMs = 60_000): void {
    this.timer = setInterval(() => void this.check(), intervalMs).unref();
    this.redis.on('ready', this.onReady);
  }

  /** Reads (and, when managed, corrects) the persistence settings; logs what changed. */
  async check(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      const { fsync } = this.config.queue;
      const state = await ensureDurability(this.redis, fsync, this.config.redis.manage_persistence);
      // Unreadable because Redis is away: that outage is reported as such (health, logs), and
      // the reconnect checks again; a stale "cannot read" would outlive it by up to a minute.
      if (state.appendonly === 'unknown' && this.redis.status !== 'ready') return;
      if (state.changed.length > 0)
        this.logger.warn({ changed: state.changed }, 'turned Redis persistence on for durable 202s');
      const before = this.state;
      if (!state.durable && (before?.durable !== false || before.problem !== state.problem))
        this.logger.error({ problem: state.problem }, 'Redis is NOT durable: acknowledged messages may be lost');
      else if (state.durable && before?.durable === false) this.logger.info('Redis is durable again');
      this.state = state;
    } finally {
      this.checking = false;
    }
  }

  stop(): void {
    clearInterval(this.timer);
    this.redis.off('ready', this.onReady);
    this.writability.stop();
  }
}

/** What `stopBroker` takes down. */
export interface RunningParts {
  config: LiveConfig;
  logger: Logger;
  durability: DurabilityWatch;
  revocations: RevocationListener;
  events: EventHub;
  jobs: BackgroundJobs;
  app: FastifyInstance;
  actors: ActorGraph;
  /** The on-demand actors' clients (CA, encryption): their timers stop before the actors do. */
  onDemand: ReadonlyArray<Pick<OnDemandActor<never>, 'close'>>;
  heartbeat: InstanceHeartbeat;
  redis: Redis;
  database: DatabaseHandle;
  embedded: EmbeddedService[];
}

/** Stops once, however often it is called (SIGTERM and SIGINT may both arrive). */
export function brokerStopper(parts: RunningParts): () => Promise<void> {
  let stopping: Promise<void> | undefined;
  return () => (stopping ??= stopBroker(parts));
}

async function stopBroker(parts: RunningParts): Promise<void> {
  const { logger, app } = parts;
  logger.info('shutting down: no new connections, finishing requests in flight');
  parts.durability.stop();
  parts.revocations.stop();
  await parts.jobs.stop();
  // Requests in flight get `shutdown_grace_ms` to finish; then their connections are cut.
  const grace = setTimeout(() => app.server.closeAllConnections?.(), parts.config.current().server.shutdown_grace_ms);
  // Event WebSockets are closed with 1001 by app.close(); then the reader stops.
  await app.close();
  clearTimeout(grace);
  await parts.events.stop();
  // Actors finish their batches (delivery stores what it read, ingest answers its appends).
  for (const client of parts.onDemand) await client.close();
  await parts.actors.stop();
  await parts.heartbeat.stop();
  parts.redis.disconnect();
  await parts.database.close();
  for (const service of parts.embedded.reverse()) await service.stop();
  logger.info('stopped');
}
