/**
 * The broker: one process, `node dist/supervisor.js [--config FILE]`.
 *
 *                ┌──────────────────────── this process ───────────────────────────┐
 *  client ─mTLS─▶│ main thread: supervisor + Fastify front                          │
 *  browser ─────▶│   (TLS, identity per socket, schema, health, portal)             │
 *                │     │ worker port      │ worker port     │ worker port   │       │
 *                │  ingest actor     encryption actor   delivery actor   ca actor   │
 *                │  (group-commit    (data keys, AES-   (consumer group,  (CA key,  │
 *                │   XADD)            GCM, HMAC,         batch INSERT,     issue,   │
 *                │     │              piscina pool)      webhooks,         CRL)     │
 *                │     ▼                   ▲  MessageChannel  │ retries)           │
 *                │  Redis stream (AOF) ────┼───────────────▶ delivery ──▶ MySQL      │
 *                └─────────────────────────┴─────────────────────────────────────────┘
 *
 * Observability: /metrics merges the main registry with each actor's (`actor.metrics`,
 * src/metrics/); every thread's log lines go through the main thread to stdout and the
 * rotated log file (src/logging/).
 *
 * Start: config → embedded Redis/MariaDB if needed → migrations → Redis durability →
 * actors (encryption, ca, ingest, delivery) → CA bootstrap (first start: CA, server and
 * demo certificates) → front listens. SIGTERM/SIGINT: stop accepting, answer in-flight
 * requests, let actors finish their batch, exit 0.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { ActorGraph } from './actors/actor-graph.js';
import { brokerArgsOrExit } from './app/broker-args.js';
import { IngestClient } from './actors/ingest/ingest.client.js';
import { ensureMariadb, ensureRedis, type EmbeddedService } from './bootstrap/embedded-services.js';
import { startBackgroundJobs } from './bootstrap/background-jobs.js';
import { printWelcome } from './bootstrap/welcome.js';
import { ConfigError, loadConfig, type BrokerConfig } from './config/config.js';
import { planReload, type ReloadResult } from './config/config-reload.js';
import { CertificatesRepository } from './db/certificates.repository.js';
import { MessagesRepository } from './db/messages.repository.js';
import { ensureDatabase, openDatabase, type DatabaseHandle } from './db/database.js';
import { migrateDatabase } from './db/migrate.js';
import { HealthService, type HealthReport } from './health/health.service.js';
import { InstanceHeartbeat } from './health/instance-heartbeat.js';
import { configFingerprint } from './config/config-fingerprint.js';
import { IdentityResolver } from './http/client-identity.js';
import { buildServer } from './http/server.js';
import { createPortalDeps, ensureFirstAdmin } from './portal/portal-deps.js';
import { caAdminAccess } from './portal/ca-admin-access.js';
import { createLogger, type Logger } from './logger.js';
import { LogOutput } from './logging/log-output.js';
import { ActorMetricsCollector, metricsSourceOf } from './metrics/actor-metrics.collector.js';
import { MetricsService } from './metrics/metrics.service.js';
import { PkiProbe } from './metrics/pki.probe.js';
import { QueueProbe } from './metrics/queue.probe.js';
import { loadThreadRegistry } from './metrics/registry-snapshot.js';
import { keysFor } from './queue/keys.js';
import { ensureDurability, type DurabilityState } from './queue/durability.js';
import { createRedis, whenReady } from './queue/redis-connection.js';
import { VERSION } from './version.js';
import { registry } from './metrics/registry.js';
import type { Server as TlsServer } from 'node:tls';
import { PkiStatus } from './health/pki-status.js';
import { RevocationListener } from './http/revocation-listener.js';
import { TlsReloader } from './http/tls-reloader.js';
import { CertStore } from './pki/cert-store.js';

export interface RunningBroker {
  url: string;
  stop(): Promise<void>;
  /** Applies a config; domain and delivery changes apply without dropping accepted messages. */
  reload(loaded: Readonly<BrokerConfig>): Promise<ReloadResult>;
  /** Re-reads the config file and applies it (SIGHUP, the portal's reload button); throws ConfigError when it is invalid. */
  reloadFromFile(): Promise<ReloadResult>;
}

/** `logOutput` receives the actors' log lines (default: the process' stdout). */
export async function startBroker(
  initialConfig: Readonly<BrokerConfig>,
  logger: Logger,
  logOutput?: LogOutput,
  /** Where a reload reads the config from (the file the broker was started with). */
  readConfig: () => Readonly<BrokerConfig> = () => loadConfig(),
): Promise<RunningBroker> {
  let config = initialConfig;
  await loadThreadRegistry();
  const embedded: EmbeddedService[] = [];
  for (const ensure of [ensureRedis, ensureMariadb]) {
    const service = await ensure(config, logger);
    if (service) embedded.push(service);
  }

  await ensureDatabase(config.database.url);
  const database: DatabaseHandle = openDatabase({ url: config.database.url, poolSize: config.database.pool_size });
  await migrateDatabase(database.db);

  const redis: Redis = createRedis(config, 'front');
  redis.on('error', (error) => logger.debug({ err: error.message }, 'redis connection error'));
  if (!(await whenReady(redis, 10_000))) throw new Error(`Redis at ${config.redis.url} does not answer`);
  let durability: DurabilityState | undefined = await ensureDurability(
    redis,
    config.queue.fsync,
    config.redis.manage_persistence,
  );
  if (durability.changed.length > 0)
    logger.warn({ changed: durability.changed }, 'turned Redis persistence on for durable 202s');
  if (!durability.durable)
    logger.error({ problem: durability.problem }, 'Redis is NOT durable: acknowledged messages may be lost');

  const faultInjection = process.env.MB_FAULT_INJECTION === '1';
  if (faultInjection) logger.warn('fault injection is ON (tests only): actors can be crashed over HTTP from loopback');
  const actors = new ActorGraph(config, logger, faultInjection, logOutput);
  // The CA first: delivery loads the broker's own client certificate, which the first
  // start creates.
  await actors.start(['encryption', 'ca']);
  const bootstrap = await actors.ca.rpc.call('ca.bootstrap', {
    hostnames: config.server.public_hostnames,
    demo: config.bootstrap.demo_client ? { name: 'demo', domain: config.bootstrap.demo_domain } : null,
  });
  await actors.start(['ingest', 'delivery']);

  const pki = (file: string) => readFileSync(join(config.pki.dir, file), 'utf8');
  const certificates = new CertificatesRepository(database.db);
  const heartbeat = new InstanceHeartbeat({
    redis,
    prefix: config.redis.key_prefix,
    instanceId: config.instance_id,
    version: VERSION,
    fingerprint: configFingerprint(config),
    intervalMs: config.heartbeat.interval_ms,
    keys: async () =>
      actors.encryption.isUp ? actors.encryption.rpc.call('encryption.keys', {}, { timeoutMs: 1000 }) : undefined,
    logger,
    registry,
  });
  await heartbeat.start();
  const identity = new IdentityResolver(
    (fp) => certificates.findIdentityByFingerprint(fp),
    config.server.identity_cache_ms,
  );
  // TLS material that follows revocations, CRL re-signs and server certificate renewals.
  const tls = new TlsReloader(
    { key: pki('server.key'), cert: pki('server.crt'), ca: pki('ca.crt'), crl: pki('crl.pem') },
    config.server.tls_min_version,
    logger,
  );
  const pkiStatus = new PkiStatus(() => tls.crl, certificates);
  const health = new HealthService({
    instanceId: config.instance_id,
    version: VERSION,
    redis,
    pingDatabase: async () => void (await database.pool.query('SELECT 1')),
    actors: actors.all(),
    durability: () => durability,
    serverCertificateNotAfter: () => tls.serverCertificateNotAfter,
    extra: async () => ({
      ...(await pkiStatus.components()),
      ...(await downstreamHealth(actors)),
      instances: heartbeat.component(),
    }),
  });
  const metrics = new MetricsService({
    version: VERSION,
    instanceId: config.instance_id,
    actors: actors.all(),
    collector: new ActorMetricsCollector(actors.all().map(metricsSourceOf), config.metrics.actor_timeout_ms),
    queue: new QueueProbe(redis, keysFor(config)),
    pki: new PkiProbe({
      crlPath: join(config.pki.dir, 'crl.pem'),
      listCertificates: () => certificates.list(),
      serverCertificateNotAfter: () => tls.serverCertificateNotAfter,
    }),
    readiness: () => health.readiness(),
    logger,
  });
  // Re-check persistence now and then: someone may turn AOF off under us.
  const durabilityTimer = setInterval(() => {
    void ensureDurability(redis, config.queue.fsync, false).then((state) => (durability = state));
  }, 60_000).unref();

  let domainMap = new Map(config.domains.map((d) => [d.name, d]));
  const portal = createPortalDeps({
    config,
    database,
    redis,
    actors,
    health,
    identity,
    // Late-bound: both are defined once the front is up, and called only from requests.
    operations: { currentConfig: () => config, reloadFromFile: () => reloadFromFile() },
  });
  const firstAdmin = await ensureFirstAdmin(portal.repositories, portal.hasher, config.portal.first_admin_email);
  const app = buildServer({
    config,
    logger,
    tls: tls.material,
    identity,
    ingest: new IngestClient(actors.ingest.rpc, config.queue.max_batch, config.redis.command_timeout_ms + 2000),
    redis,
    messages: new MessagesRepository(database.db),
    health,
    domains: () => domainMap,
    metrics,
    portal,
    caAdmin: caAdminAccess(portal),
    ...(faultInjection ? { crashActor: (name: string) => actors.crash(name) } : {}),
  });
  tls.attach(app.server as unknown as TlsServer);
  const revocations = new RevocationListener({
    tls,
    identity,
    store: new CertStore(config.pki.dir),
    logger,
    keyPrefix: config.redis.key_prefix,
    redis,
    subscriber: createRedis(config, 'subscriber'),
    checkIntervalMs: config.pki.check_interval_ms,
  });
  revocations.attach(app.server as unknown as TlsServer);
  await revocations.start();
  await app.listen({ host: config.server.host, port: config.server.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.server.port;
  const url = `https://localhost:${port}`;
  printWelcome(config, url, bootstrap, firstAdmin);
  const jobs = await startBackgroundJobs({ config: () => config, redis, database, logger });

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      logger.info('shutting down: no new connections, finishing requests in flight');
      clearInterval(durabilityTimer);
      revocations.stop();
      await jobs.stop();
      const grace = setTimeout(() => app.server.closeAllConnections?.(), config.server.shutdown_grace_ms);
      await app.close();
      clearTimeout(grace);
      await actors.stop();
      await heartbeat.stop();
      redis.disconnect();
      await database.close();
      for (const service of embedded.reverse()) await service.stop();
      logger.info('stopped');
    })());
  let reloading = Promise.resolve() as Promise<unknown>;
  const reload = (loaded: Readonly<BrokerConfig>): Promise<ReloadResult> => {
    const run = async (): Promise<ReloadResult> => {
      const plan = planReload(config, loaded);
      if (plan.restartRequired.length > 0)
        logger.warn({ keys: plan.restartRequired }, 'config changes that need a restart were not applied');
      if (plan.changed.length === 0) return { changed: [], restart_required: plan.restartRequired, actors: {} };
      config = Object.freeze(plan.next);
      // Other instances compare against what this one runs now.
      heartbeat.setFingerprint(configFingerprint(config));
      // The front first: a domain switched off refuses new messages at once; what was
      // accepted stays in its stream and is stored by the restarted delivery actor.
      domainMap = new Map(config.domains.map((d) => [d.name, d]));
      const outcome = await actors.reconfigure(config);
      logger.info({ changed: plan.changed, actors: outcome }, 'config reloaded');
      return { changed: plan.changed, restart_required: plan.restartRequired, actors: outcome };
    };
    const next = reloading.then(run, run);
    reloading = next.catch(() => undefined);
    return next;
  };
  // async: an invalid file must reject, never throw synchronously into a signal handler.
  const reloadFromFile = async () => reload(readConfig());
  return { url, stop, reload, reloadFromFile };
}

/** One health component per webhook downstream: its breaker and whether it is paused. */
async function downstreamHealth(actors: ActorGraph): Promise<HealthReport['components']> {
  if (!actors.delivery.isUp) return {};
  try {
    const { downstreams } = await actors.delivery.rpc.call('delivery.downstreams', {}, { timeoutMs: 1000 });
    const out: HealthReport['components'] = {};
    for (const d of downstreams) {
      const status = d.breaker.state === 'closed' && d.operational ? 'up' : 'degraded';
      out[`downstream_${d.domain}`] = {
        status,
        operational: d.operational,
        in_flight: d.in_flight,
        slots: d.slots,
        breaker: d.breaker,
      };
    }
    return out;
  } catch {
    return {};
  }
}

async function main(): Promise<void> {
  // --help, --version and bad arguments end here: they never start a broker.
  const { configFile } = brokerArgsOrExit(process.argv.slice(2), VERSION);
  const readConfig = () => loadConfig(configFile === undefined ? {} : { file: configFile });
  let config: Readonly<BrokerConfig>;
  try {
    config = readConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`config error: ${error.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    throw error;
  }
  let logOutput: LogOutput;
  try {
    logOutput = LogOutput.fromConfig(config);
  } catch (error) {
    process.stderr.write(`cannot open the log file ${config.log.file}: ${(error as Error).message}\n`);
    process.exit(1);
  }
  const logger = createLogger(config.log.level, { actor: 'supervisor', instance_id: config.instance_id }, logOutput);
  let broker: RunningBroker;
  try {
    broker = await startBroker(config, logger, logOutput, readConfig);
  } catch (error) {
    logger.fatal({ err: error }, 'broker failed to start');
    process.stderr.write(`broker failed to start: ${(error as Error).message}\n`);
    process.exit(1);
  }
  process.on('SIGHUP', () => {
    broker.reloadFromFile().catch((error: unknown) => {
      if (error instanceof ConfigError)
        logger.error(
          { err: error.message },
          'config reload refused: the new config is invalid; running on with the old one',
        );
      else logger.error({ err: error }, 'config reload failed');
    });
  });
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      broker.stop().then(
        () => process.exit(0),
        (error: unknown) => {
          logger.error({ err: error }, 'unclean shutdown');
          process.exit(1);
        },
      );
    });
  }
}

// Run only as the entry point, so tests can import startBroker.
if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) void main();
