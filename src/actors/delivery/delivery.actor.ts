/**
 * Delivery actor: stores what the streams hold (StorePipeline) and delivers it to each
 * webhook or amqp target's downstream (one TargetDispatcher per such target of each domain,
 * sending through its transport, all taking their slots from one SlotAllocator:
 * `delivery.concurrency` attempts in flight at most, in all). Its MySQL pool and Redis
 * connections are its own.
 * Status callbacks (CallbackDispatcher) run here too, beside delivery but with
 * connections, slots and breakers of their own.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openBrokerDatabase } from '../../db/database.js';
import { MessagesRepository } from '../../db/messages.repository.js';
import { keysFor, targetKeys } from '../../queue/keys.js';
import { createRedis, logConnectionChanges, whenReady } from '../../queue/redis-connection.js';
import { DeliverySchedule } from '../../queue/schedule.js';
import { defineScripts } from '../../queue/scripts.js';
import { runActor } from '../actor-runtime.js';
import { BREAKER_STATE_VALUE } from '../../delivery/circuit-breaker.js';
import type { EncryptionCalls } from '../encryption/encryption.protocol.js';
import {
  countBatchFailure,
  countStored,
  initDeliveryMetrics,
  observeStoredBatch,
  reportSlots,
  setBreakerState,
} from '../../delivery/delivery.metrics.js';
import type { DeliveryProtocol } from './delivery.protocol.js';
import type { DeliveryStats } from '../../delivery/delivery.types.js';
import { BLOCK_MS, StorePipeline } from '../../delivery/store-pipeline.js';
import { WebhookClient } from '../../delivery/webhook-client.js';
import { AmqpTransport } from '../../delivery/amqp-transport.js';
import { retryPolicyOf } from '../../delivery/retry-policy.js';
import { TargetDispatcher } from '../../delivery/target-dispatcher.js';
import type { DeliveryTransport } from '../../delivery/delivery-transport.js';
import { WebhookTransport } from '../../delivery/webhook-transport.js';
import { SlotAllocator } from '../../delivery/slot-allocator.js';
import { deliversByAttempts, deliveryShareWarnings } from '../../config/config-resolve.js';
import type { DomainConfig, TargetConfig } from '../../config/config.js';
import { ClientsRepository } from '../../db/clients.repository.js';
import { CallbackDispatcher } from '../../events/callback-dispatcher.js';
import { callbackUrlProblem } from '../../events/callback-url.js';
import type { CallbackTarget } from '../../events/callback-client.js';
import type { Logger } from '../../logger.js';

runActor<DeliveryProtocol>(async ({ config, logger, onDemandPeer }) => {
  const redis = createRedis(config, 'delivery');
  // XREADGROUP BLOCK holds a reply back for BLOCK_MS: silence that long is not a dead socket.
  const blockingRedis = createRedis(config, 'delivery-blocking', {
    socketTimeout: config.redis.command_timeout_ms + BLOCK_MS,
  });
  // ioredis reports an error at every retry (several a second per connection while Redis is
  // away): the loss and the return are logged once each, for the actor's main connection.
  for (const r of [redis, blockingRedis])
    r.on('error', (error) => logger.debug({ err: error.message }, 'redis connection error'));
  logConnectionChanges(redis, logger);
  await Promise.all([whenReady(redis), whenReady(blockingRedis)]);
  const database = openBrokerDatabase(config, logger);
  // A full store batch is one prepared INSERT of its size.
  const messages = new MessagesRepository(database.db, { fullBatchRows: config.delivery.batch_size });
  const schedule = new DeliverySchedule(redis, defineScripts(redis));
  // Parked unless something needs it (on-demand.ts): a call that finds it so starts it.
  const encryption = onDemandPeer<EncryptionCalls>('encryption');
  const keysByDomain = keysFor(config);
  const stats: Omit<DeliveryStats, 'store_failing_since' | 'store_error'> = {
    stored: 0,
    delivered: 0,
    attempts_failed: 0,
    retries_scheduled: 0,
    dead_lettered: 0,
    store_batches_failed: 0,
    in_flight: 0,
  };

  // Filled once the dispatchers exist (below): the pipeline reads it per batch, after start.
  const dispatcherByLane = new Map<string, TargetDispatcher>();
  const pipeline = new StorePipeline({
    config,
    logger,
    redis,
    blockingRedis,
    messages,
    encryption,
    schedule,
    keysByDomain,
    dispatchers: dispatcherByLane,
    onStored: (byDomain) => {
      countStored(byDomain);
      for (const counts of byDomain.values()) {
        stats.stored += counts.stored;
        stats.delivered += counts.delivered;
      }
    },
    onBatchDone: (entries, seconds) => observeStoredBatch(entries, seconds),
    onBatchFailed: () => {
      stats.store_batches_failed++;
      countBatchFailure();
    },
  });

  // One dispatcher per target of each domain that delivers through a transport (a "lane";
  // a store target delivers by being stored): its own schedule, retry policy, breaker and
  // share of the slots.
  const lanes = config.domains.flatMap((domain) =>
    domain.targets.filter(deliversByAttempts).map((target) => ({ domain, target })),
  );
  const allocator = new SlotAllocator(config.delivery.concurrency);
  for (const warning of deliveryShareWarnings(config)) logger.warn({ key: warning.key }, warning.message);
  const transports: DeliveryTransport[] = [];
  const dispatchers = lanes.map(({ domain, target }) => {
    const slots = allocator.register(laneName(domain.name, target.name), target.concurrency_share);
    const transport = transportFor(domain, target, slots.limit, config.pki.dir, logger);
    transports.push(transport);
    return new TargetDispatcher({
      domain,
      target,
      keys: targetKeys(config.redis.key_prefix, domain, target.name),
      slots,
      policy: retryPolicyOf(domain, target),
      timeoutMs: target.timeout_ms,
      pollIntervalMs: config.delivery.poll_interval_ms,
      heldMax: config.delivery.held_attempts,
      logger,
      messages,
      schedule,
      encryption,
      transport,
      breaker: { failures: config.delivery.breaker_failures, openMs: config.delivery.breaker_open_ms },
      events: { prefix: config.redis.key_prefix, retention: config.events, format: config.queue.entry_format },
      onBreakerChange: (state) => setBreakerState(domain.name, target.name, BREAKER_STATE_VALUE[state]),
      onOutcome: (kind, count) => {
        if (kind === 'delivered') stats.delivered += count;
        else if (kind === 'retry') {
          stats.retries_scheduled += count;
          stats.attempts_failed += count;
        } else {
          stats.dead_lettered += count;
          stats.attempts_failed += count;
        }
      },
    });
  });

  for (const [i, d] of dispatchers.entries())
    dispatcherByLane.set(laneName(lanes[i]!.domain.name, lanes[i]!.target.name), d);
  initDeliveryMetrics(config.domains);
  reportSlots(
    allocator.total,
    dispatchers.map((d, i) => ({
      domain: lanes[i]!.domain.name,
      target: lanes[i]!.target.name,
      slots: d.slots,
      guaranteed: d.guaranteedSlots,
      inUse: () => d.inFlight,
    })),
  );
  pipeline.start();
  for (const d of dispatchers) d.start();

  const callbackRedis = createRedis(config, 'delivery');
  const callbackBlocking = createRedis(config, 'delivery-blocking');
  for (const r of [callbackRedis, callbackBlocking])
    r.on('error', (error) => logger.debug({ err: error.message }, 'redis connection error (status callbacks)'));
  await Promise.all([whenReady(callbackRedis), whenReady(callbackBlocking)]);
  const clientsRepository = new ClientsRepository(database.db);
  const domainsByName = new Map(config.domains.map((d) => [d.name, d]));
  // Clients whose stored callback URL is unusable, logged once each (not at every refresh).
  const unusableCallbacks = new Set<number>();
  const callbacks = new CallbackDispatcher({
    redis: callbackRedis,
    blocking: callbackBlocking,
    prefix: config.redis.key_prefix,
    consumer: config.instance_id,
    settings: config.events,
    logger,
    breaker: { failures: config.delivery.breaker_failures, openMs: config.delivery.breaker_open_ms },
    loadTargets: async (withMessageCallbacks) => {
      const withDefault = config.domains.filter((d) => d.status_callback.url !== '').map((d) => d.name);
      const targets = new Map<number, CallbackTarget>();
      const rows = await clientsRepository.listWithStatusCallbacks(withDefault, withMessageCallbacks);
      for (const row of rows) {
        const domain = domainsByName.get(row.domain);
        // Unsigned callbacks are never sent: the admin API refuses a URL without a secret.
        if (!domain || domain.status_callback.secret === '') continue;
        const perMessage = domain.status_callback.allowed_hosts.length > 0;
        const url = row.status_callback_url ?? domain.status_callback.url;
        if (url === '' && !perMessage) continue;
        // A URL saved before it was checked (an older broker): that client's callbacks
        // wait, its events kept as long as events are, rather than stopping this actor.
        const problem = url === '' ? undefined : callbackUrlProblem(url);
        if (problem) {
          if (!unusableCallbacks.has(row.id))
            logger.error(
              { client: `${row.name}.${row.domain}`, problem },
              'status callback URL unusable; its callbacks wait until it is corrected (mb client callback)',
            );
          unusableCallbacks.add(row.id);
          continue;
        }
        unusableCallbacks.delete(row.id);
        targets.set(row.id, {
          url,
          secret: domain.status_callback.secret,
          caFile: domain.status_callback.ca_file,
          perMessage,
        });
      }
      return targets;
    },
  });
  await callbacks.start();

  return {
    handlers: {
      'delivery.stats': () => {
        const failure = pipeline.storeFailure();
        return {
          ...stats,
          in_flight: dispatchers.reduce((n, d) => n + d.inFlight, 0),
          store_failing_since: failure?.since.toISOString() ?? null,
          store_error: failure?.error ?? null,
        };
      },
      'delivery.downstreams': () => ({ downstreams: dispatchers.map((d) => d.snapshot()) }),
    },
    health: () => ({
      status: redis.status === 'ready' ? 'up' : 'degraded',
      details: {
        redis: redis.status,
        webhook_domains: [...new Set(lanes.map((l) => l.domain.name))],
        webhook_targets: lanes.map((l) => laneName(l.domain.name, l.target.name)),
      },
    }),
    drain: async () => {
      await callbacks.stop();
      await pipeline.stop();
      await Promise.all(dispatchers.map((d) => d.stop()));
      await Promise.all(transports.map((t) => t.close()));
      await database.close();
      for (const r of [redis, blockingRedis, callbackRedis, callbackBlocking]) r.disconnect();
    },
  };
});

/**
 * The transport of one target: each downstream gets its own connections (or channels), as
 * many as the target may use (every slot). A new kind of target adds its case here.
 */
function transportFor(
  domain: DomainConfig,
  target: TargetConfig,
  connections: number,
  pkiDir: string,
  logger: Logger,
): DeliveryTransport {
  const ca = target.ca_file ? { ca: readFileSync(target.ca_file, 'utf8') } : {};
  switch (target.type) {
    case 'webhook': {
      const client = new WebhookClient({ ...deliveryCertificate(pkiDir), ...ca }, connections);
      return new WebhookTransport(client, { url: target.url, secret: target.secret, timeoutMs: target.timeout_ms });
    }
    case 'amqp': {
      const own =
        target.cert_file && target.key_file
          ? { cert: readFileSync(target.cert_file, 'utf8'), key: readFileSync(target.key_file, 'utf8') }
          : deliveryCertificate(pkiDir);
      const transport = new AmqpTransport(
        {
          url: target.url,
          exchange: target.exchange,
          routingKey: target.routing_key,
          timeoutMs: target.timeout_ms,
          tls: { ...own, ...ca },
        },
        connections,
        logger,
        laneName(domain.name, target.name),
      );
      transport
        .start()
        .catch((error: Error) =>
          logger.error({ domain: domain.name, target: target.name, err: error.message }, 'amqp target cannot start'),
        );
      return transport;
    }
    default:
      throw new Error(`target ${target.name} of type ${target.type} has no transport`);
  }
}

/** A target's name among the allocator's and the health details': `domain/target`. */
function laneName(domain: string, target: string): string {
  return `${domain}/${target}`;
}

/** The broker's own client certificate, presented to downstreams that ask for one. */
function deliveryCertificate(pkiDir: string): { cert?: string; key?: string } {
  const cert = join(pkiDir, 'delivery-client.crt');
  const key = join(pkiDir, 'delivery-client.key');
  return existsSync(cert) && existsSync(key)
    ? { cert: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8') }
    : {};
}
