/**
 * The composition root: every service of a running broker is built here, once, and
 * handed to whoever uses it. Nothing below this module builds a service another one has
 * built already; the front (src/http/server.ts) and the portal mount what they are given.
 *
 *   LiveConfig ──▶ front (domains, limits), portal, queue probe, retention, heartbeat
 *   repositories ─▶ identity, PKI status/probe, front (messages), portal, retention
 *   front Redis ──▶ health, queue probe, heartbeat, front, portal, revocations, retention
 *   ActorGraph ───▶ health, metrics, heartbeat (keys), ingest client, portal, reload
 *   EventHub ─────▶ front (GET /api/v1/events), portal (/portal/live); own XREAD connection
 *
 * Start order (each step needs the ones before it): embedded services → database
 * (migrated) → Redis (durability checked) → actors encryption + ca → keys and CA checked
 * against the installation's (secret-identity.ts) → ca.bootstrap (first
 * start: CA, server and demo certificates) → actors ingest + delivery → heartbeat,
 * identity, TLS, health, metrics, portal, front, revocation listener → listen → welcome
 * → background jobs. Stop order: lifecycle.ts. Reload: reload.ts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Server as TlsServer } from 'node:tls';
import { BrokerError } from '../errors.js';
import { ActorGraph } from '../actors/actor-graph.js';
import { IngestClient } from '../actors/ingest/ingest.client.js';
import { startBackgroundJobs } from '../bootstrap/background-jobs.js';
import { printWelcome } from '../bootstrap/welcome.js';
import { loadConfig, type BrokerConfig } from '../config/config.js';
import { configFingerprint, configSectionFingerprints } from '../config/config-fingerprint.js';
import type { ReloadResult } from '../config/config-reload.js';
import { LiveConfig } from '../config/live-config.js';
import { createRepositories } from '../db/index.js';
import { SecretFingerprintsRepository } from '../db/secret-fingerprints.repository.js';
import { KeyStore } from '../crypto/key-store.js';
import { caFingerprint, heldSecrets, refuseNewCa, verifySecretIdentity } from '../keys/secret-identity.js';
import { MessagePagesRepository } from '../db/message-pages.repository.js';
import type { DeliveryStats } from '../delivery/delivery.types.js';
import type { DispatcherSnapshot } from '../delivery/target-dispatcher.js';
import { domainsHealth } from '../health/domain-health.js';
import { storeHealth } from '../health/store-health.js';
import { HealthService, withTimeout, type HealthReport } from '../health/health.service.js';
import { warnInsecureTargets, webhookTransportComponent } from '../health/insecure-targets.js';
import { InstanceHeartbeat } from '../health/instance-heartbeat.js';
import { PkiStatus } from '../health/pki-status.js';
import { IdentityResolver } from '../http/client-identity.js';
import { RevocationListener } from '../http/revocation-listener.js';
import { buildServer } from '../http/server.js';
import { EventHub } from '../events/event-hub.js';
import { TlsReloader } from '../http/tls-reloader.js';
import type { Logger } from '../logger.js';
import type { LogOutput } from '../logging/log-output.js';
import { ActorMetricsCollector, metricsSourceOf } from '../metrics/actor-metrics.collector.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { PkiProbe } from '../metrics/pki.probe.js';
import { QueueProbe } from '../metrics/queue.probe.js';
import { registry } from '../metrics/registry.js';
import { loadThreadRegistry } from '../metrics/registry-snapshot.js';
import { CertStore } from '../pki/cert-store.js';
import { CaClient } from '../actors/ca/ca.client.js';
import { OnDemandActor } from '../actors/on-demand.js';
import { pkiMaintenanceDue } from '../ca/maintenance-due.js';
import { caAdminAccess } from '../portal/ca-admin-access.js';
import { ensureFirstAdmin, handOverFirstAdmin, prepareHandOver } from '../portal/first-admin.js';
import { SharedIdentityCache } from '../queue/identity-cache.js';
import { createRedis } from '../queue/redis-connection.js';
import { workLeftBehind } from '../queue/work-left-behind.js';
import { VERSION } from '../version.js';
import { brokerStopper, connectRedis, openStorage, startEmbeddedServices } from './lifecycle.js';
import { buildPortalDeps } from './portal-services.js';
import { listenError } from './listen-error.js';
import { createReloader } from './reload.js';

export interface RunningBroker {
  url: string;
  stop(): Promise<void>;
  /** Applies a config; domain and delivery changes apply without dropping accepted messages. */
  reload(loaded: Readonly<BrokerConfig>): Promise<ReloadResult>;
  /** Re-reads the config file and applies it (SIGHUP, the portal's reload button); throws ConfigError when it is invalid. */
  reloadFromFile(): Promise<ReloadResult>;
}

/**
 * Starts the broker. `logOutput` carries every thread's log lines to stdout and the log
 * file (the main thread's `logger` writes to it too); a reload re-points it.
 */
export async function startBroker(
  initialConfig: Readonly<BrokerConfig>,
  logger: Logger,
  logOutput: LogOutput,
  /** Where a reload reads the config from (the file the broker was started with). */
  readConfig: () => Readonly<BrokerConfig> = () => loadConfig(),
): Promise<RunningBroker> {
  const live = new LiveConfig(initialConfig);
  // Sections that need a restart are read from the config the broker started with.
  const config = live.current();
  // The main thread's logger and its children (Fastify's request loggers included) follow a reload.
  live.subscribe((next) => {
    logger.level = next.log.level;
  });
  await loadThreadRegistry();
  const embedded = await startEmbeddedServices(config, logger);
  const database = await openStorage(config, logger);
  const repositories = createRepositories(database.db);
  const { redis, durability } = await connectRedis(config, logger);

  const faultInjection = process.env.MB_FAULT_INJECTION === '1';
  if (faultInjection) logger.warn('fault injection is ON (tests only): actors can be crashed over HTTP from loopback');
  const actors = new ActorGraph(config, logger, faultInjection, logOutput);
  // An http:// webhook target (allowed by name) is said at start and after each reload.
  warnInsecureTargets(config, logger);
  live.subscribe((next) => warnInsecureTargets(next, logger));
  // The CA first: delivery loads the broker's own client certificate, which the first
  // start creates.
  await actors.start(['encryption', 'ca']);
  // Before bootstrap writes anything (a CA, the demo certificate, a CRL announced to every
  // broker) and before anything seals or stores: this host's keys, peppers and CA must be
  // the installation's. The encryption actor has made the key files on a first start.
  const secretRecord = new SecretFingerprintsRepository(database.db);
  const where = { secretsDir: config.secrets.dir, pkiDir: config.pki.dir };
  const caPath = join(config.pki.dir, 'ca.crt');
  const hadCa = existsSync(caPath);
  await verifySecretIdentity(
    secretRecord,
    heldSecrets(await KeyStore.open(config.secrets.dir), hadCa ? readFileSync(caPath, 'utf8') : undefined),
    where,
  );
  if (!hadCa) await refuseNewCa(secretRecord, config.pki.dir, ', then start again');
  const bootstrap = await actors.ca.rpc.call('ca.bootstrap', {
    hostnames: config.server.public_hostnames,
    demo: config.bootstrap.demo_client ? { name: 'demo', domain: config.bootstrap.demo_domain } : null,
  });
  const caPem = readFileSync(caPath, 'utf8');
  // A CA bootstrap made just now becomes the installation's.
  if (!hadCa) await verifySecretIdentity(secretRecord, [caFingerprint(caPem)], where);
  await actors.start(['ingest', 'delivery']);
  // From here on the CA and encryption actors run on demand (on-demand.ts): every caller
  // in this thread goes through `ca` and `encryption`; the delivery actor wakes encryption.
  const idleStopMs = () => live.current().actors.idle_stop_ms;
  const encryption = new OnDemandActor({ host: actors.encryption, idleStopMs, logger });
  encryption.start();
  const ca = new CaClient({
    host: actors.ca,
    idleStopMs,
    checkIntervalMs: config.pki.check_interval_ms,
    maintenanceDue: () =>
      pkiMaintenanceDue({
        store: new CertStore(config.pki.dir),
        hostnames: () => live.current().server.public_hostnames,
        certificates: repositories.certificates,
      }),
    logger,
  });
  ca.start();

  const pki = (file: string) => readFileSync(join(config.pki.dir, file), 'utf8');
  const { certificates } = repositories;
  const heartbeat = new InstanceHeartbeat({
    redis,
    prefix: config.redis.key_prefix,
    instanceId: config.instance_id,
    version: VERSION,
    fingerprint: configFingerprint(config),
    configSections: configSectionFingerprints(config),
    intervalMs: config.heartbeat.interval_ms,
    keys: async () => (actors.ingest.isUp ? actors.ingest.rpc.call('ingest.keys', {}, { timeoutMs: 1000 }) : undefined),
    // Every beat: are all live instances' keys and CA still the installation's?
    caFingerprint: caFingerprint(caPem),
    installationSecrets: () => secretRecord.all(),
    recordSecrets: (held) => secretRecord.recordFirstUse(held),
    logger,
    registry,
  });
  // Other instances compare against what this one runs now.
  live.subscribe((next) => heartbeat.setFingerprint(configFingerprint(next), configSectionFingerprints(next)));
  await heartbeat.start();
  // Every broker's fallback while MySQL is away: new connections of known clients keep being accepted.
  const sharedIdentities =
    config.server.identity_shared_cache_ms > 0
      ? new SharedIdentityCache(redis, config.redis.key_prefix, config.server.identity_shared_cache_ms)
      : undefined;
  const identity = new IdentityResolver(
    (fp) => certificates.findIdentityByFingerprint(fp),
    config.server.identity_cache_ms,
    undefined,
    sharedIdentities,
  );
  // TLS material that follows revocations, CRL re-signs and server certificate renewals.
  const tls = new TlsReloader(
    { key: pki('server.key'), cert: pki('server.crt'), ca: pki('ca.crt'), crl: pki('crl.pem') },
    config.server.tls_min_version,
    logger,
  );
  const pkiStatus = new PkiStatus(() => tls.crl, certificates);
  const domainHealth = async () => {
    const [certificates, downstreams] = await Promise.all([
      withTimeout(pkiStatus.clientsLatestCertificates(), DOMAIN_PROBE_TIMEOUT_MS).catch(() => undefined),
      downstreamSnapshots(actors),
    ]);
    return domainsHealth({ config: live.current(), certificates, downstreams });
  };
  const health = new HealthService({
    instanceId: config.instance_id,
    version: VERSION,
    redis,
    pingDatabase: async () => void (await database.pool.query('SELECT 1')),
    // With identities shared in Redis, new connections are accepted while MySQL is away.
    mysqlNeededToAccept: !sharedIdentities,
    actors: actors.all(),
    durability: () => durability.state,
    writeProblems: () => durability.writability.problems,
    queueFull: () => durability.writability.full,
    serverCertificateNotAfter: () => tls.serverCertificateNotAfter,
    extra: async () => ({
      ...(await pkiStatus.components()),
      ...downstreamHealth(await downstreamSnapshots(actors)),
      ...storeHealth(await deliveryStats(actors)),
      webhook_transport: webhookTransportComponent(live.current()),
      instances: heartbeat.component(),
    }),
    domains: domainHealth,
  });
  const metrics = new MetricsService({
    version: VERSION,
    instanceId: config.instance_id,
    actors: actors.all(),
    collector: new ActorMetricsCollector(actors.all().map(metricsSourceOf), config.metrics.actor_timeout_ms),
    queue: new QueueProbe(redis, live, () => durability.writability.memory),
    pki: new PkiProbe({
      crlPath: join(config.pki.dir, 'crl.pem'),
      listCertificates: () => certificates.list(),
      serverCertificateNotAfter: () => tls.serverCertificateNotAfter,
    }),
    readiness: () => health.readiness(),
    redisDurable: () => durability.state?.durable,
    domainHealth,
    logger,
  });
  durability.watch();

  // Called only from requests and signals, once the front is up.
  const reloader = createReloader({
    live,
    logger,
    logOutput,
    actors,
    readConfig,
    workLeftBehind: (current, next) => workLeftBehind(redis, current.redis.key_prefix, current.domains, next.domains),
  });
  const portal = buildPortalDeps({
    config: live,
    repositories,
    messagePages: new MessagePagesRepository(database.db),
    redis,
    actors,
    ca,
    encryption,
    health,
    identity,
    operations: { reloadFromFile: reloader.reloadFromFile },
    logger,
  });
  const events = new EventHub({
    redis,
    blocking: createRedis(config, 'events-blocking'),
    prefix: config.redis.key_prefix,
    logger,
    minReadIntervalMs: config.events.read_interval_ms,
  });
  events.start();
  const app = buildServer({
    config: live,
    logger,
    tls: tls.material,
    identity,
    ingest: new IngestClient(actors.ingest.rpc, config.queue.max_batch, config.redis.command_timeout_ms + 2000, () => {
      const { problems, full } = durability.writability;
      if (problems.length > 0) return new BrokerError('QUEUE_NOT_DURABLE', undefined, { cause: problems.join('; ') });
      return full ? new BrokerError('QUEUE_FULL', undefined, { cause: full }) : undefined;
    }),
    redis,
    messages: repositories.messages,
    health,
    metrics,
    portal,
    caAdmin: caAdminAccess(portal),
    events,
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
    clientStatusOf: async (id) => (await repositories.clients.findById(id))?.status,
    ...(sharedIdentities ? { markedDisabled: (id: number) => sharedIdentities.isMarkedDisabled(id) } : {}),
  });
  revocations.attach(app.server as unknown as TlsServer);
  await revocations.start();
  await app.listen({ host: config.server.host, port: config.server.port }).catch((error: unknown) => {
    throw listenError(error, config.server.host, config.server.port);
  });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.server.port;
  const url = `https://localhost:${port}`;
  // Only once listening: a start that fails before its welcome text (a port in use) would
  // leave an account whose password was never shown, and the next start makes no other.
  const toTerminal = process.stdout.isTTY === true;
  prepareHandOver(toTerminal, config.data.dir);
  const created = await ensureFirstAdmin(repositories, portal.hasher, config.portal.first_admin_email);
  const firstAdmin = created && handOverFirstAdmin(created, toTerminal, config.data.dir);
  printWelcome(config, url, bootstrap, firstAdmin);
  const jobs = await startBackgroundJobs({ config: live, redis, database, repositories, logger });

  const stop = brokerStopper({
    config: live,
    logger,
    durability,
    revocations,
    events,
    jobs,
    app,
    actors,
    onDemand: [ca, encryption],
    heartbeat,
    redis,
    database,
    embedded,
  });
  return { url, stop, reload: reloader.reload, reloadFromFile: reloader.reloadFromFile };
}

const DOMAIN_PROBE_TIMEOUT_MS = 1500;

/** The delivery actor's view of each webhook domain; undefined while it does not answer. */
async function downstreamSnapshots(actors: ActorGraph): Promise<DispatcherSnapshot[] | undefined> {
  if (!actors.delivery.isUp) return undefined;
  try {
    return (await actors.delivery.rpc.call('delivery.downstreams', {}, { timeoutMs: 1000 })).downstreams;
  } catch {
    return undefined;
  }
}

/** The delivery actor's counts and store state; undefined while it does not answer. */
async function deliveryStats(actors: ActorGraph): Promise<DeliveryStats | undefined> {
  if (!actors.delivery.isUp) return undefined;
  try {
    return await actors.delivery.rpc.call('delivery.stats', {}, { timeoutMs: 1000 });
  } catch {
    return undefined;
  }
}

/** One health component per webhook downstream: its breaker and whether it is paused. */
function downstreamHealth(downstreams: DispatcherSnapshot[] | undefined): HealthReport['components'] {
  const out: HealthReport['components'] = {};
  for (const d of downstreams ?? []) {
    const status = d.breaker.state === 'closed' && d.operational ? 'up' : 'degraded';
    // A domain's single target keeps the component name it always had.
    out[d.target === 'default' ? `downstream_${d.domain}` : `downstream_${d.domain}/${d.target}`] = {
      status,
      operational: d.operational,
      in_flight: d.in_flight,
      // First attempts stored and leased, waiting in memory for a slot (delivery.held_attempts).
      held: d.held,
      slots: d.slots,
      breaker: d.breaker,
    };
  }
  return out;
}
