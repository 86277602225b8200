/**
 * Ingest actor: makes accepted messages durable in the domain streams. The front batches
 * requests that arrive together into one `ingest.append`; this actor seals every message
 * of the batch (one AES-256-GCM envelope of number and body, HMAC of the number), then writes
 * the batch as one Redis pipeline (group commit) of one `enqueue-n` script per domain —
 * which checks each request's Idempotency-Key, daily quota and rate limit in the same step
 * as it appends — and answers per request. With `queue.replicas` the same pipeline ends
 * with a WAIT, and a batch too few replicas confirmed is answered 503, never 202.
 *
 * Why the seal is here and not in the encryption actor: this thread already holds the
 * plaintext it appends, and sealing where the append happens costs no extra thread hop on
 * the accept path. It reads the same key files as the encryption actor (which creates
 * them, and starts first) and follows rotations with the same watcher.
 *
 * Each appended message's `queued` status event is appended by the same script, in the
 * same atomic step (src/queue/lua/enqueue-n.lua): no extra round trip, never lost after a
 * 202, always before the message's `stored`.
 */
import { keysFor } from '../../queue/keys.js';
import { countPublished } from '../../events/events.metrics.js';
import { createRedis, logConnectionChanges, whenReady } from '../../queue/redis-connection.js';
import { ReplicaWait } from '../../queue/replica-wait.js';
import { defineScripts } from '../../queue/scripts.js';
import { runActor } from '../actor-runtime.js';
import { initIngestMetrics, observeEnqueue } from './ingest.metrics.js';
import { EnqueuePlanner, queueUnavailable, type SealMessages } from '../../ingest/enqueue-planner.js';
import { measuredSync } from '../../crypto/encryption.metrics.js';
import type { IngestProtocol } from './ingest.protocol.js';
import { EncryptionService } from '../../crypto/encryption.service.js';
import { envelopeVersionOf } from '../../crypto/envelope.js';
import { KeyStore } from '../../crypto/key-store.js';
import { KeyWatcher } from '../../crypto/key-watcher.js';
import { keyIdsReport } from '../../keys/secret-identity.js';

runActor<IngestProtocol>(async ({ config, logger }) => {
  const redis = createRedis(config, 'ingest');
  // ioredis reports an error at every retry (several a second while Redis is away): the
  // loss and the return are logged once each instead, with the cause.
  redis.on('error', (error) => logger.debug({ err: error.message }, 'redis connection error'));
  logConnectionChanges(redis, logger);
  // Defined up front: a script that cannot be loaded stops the actor at start, not at the first request.
  defineScripts(redis);
  // Not fatal: while Redis is away, appends are refused (503) until it answers.
  await whenReady(redis);
  const store = await KeyStore.open(config.secrets.dir);
  const sealer = new EncryptionService(store, envelopeVersionOf(config.secrets.envelope_version));
  const seal: SealMessages = (items) => measuredSync('seal', items.length, () => sealer.seal(items));
  const watcher = new KeyWatcher({
    store,
    dir: config.secrets.dir,
    intervalMs: config.secrets.reload_interval_ms,
    logger,
  });
  await watcher.start();
  let keys = keysFor(config);
  initIngestMetrics(keys.keys());
  // queue.* needs a restart (config-reload.ts): the wait is fixed for the actor's life.
  const replicaWait = new ReplicaWait(redis, config.queue.replicas, config.queue.replicas_timeout_ms);
  let planner = new EnqueuePlanner(config, seal, replicaWait);
  let inFlight = 0;

  const unavailable = (error: unknown) => {
    // While the connection is down every append is refused: "redis connection lost" said
    // why, and the front logs each refused request; a line per batch here would double that.
    const level = redis.status === 'ready' ? 'warn' : 'debug';
    logger[level]({ err: error instanceof Error ? error.message : String(error) }, 'redis refused an append');
    return queueUnavailable(error);
  };

  return {
    handlers: {
      'ingest.append': async ({ requests }) => {
        inFlight++;
        const started = performance.now();
        try {
          const results = await planner.run(redis, requests, unavailable);
          observeEnqueue(requests, results, (performance.now() - started) / 1000);
          let queued = 0;
          for (const result of results)
            if (result.ok && result.kind === 'done')
              for (const position of result.positions) if (position > 0) queued++;
          countPublished('queued', queued);
          return { results };
        } catch (error) {
          const results = requests.map(() => unavailable(error));
          observeEnqueue(requests, results, (performance.now() - started) / 1000);
          return { results };
        } finally {
          inFlight--;
        }
      },
      'ingest.keys': () => keyIdsReport(store, watcher.activeSince),
      'ingest.depth': async () => {
        const pipeline = redis.pipeline();
        for (const k of keys.values()) pipeline.xlen(k.stream);
        const replies = (await pipeline.exec()) ?? [];
        const depth: Record<string, number> = {};
        [...keys.keys()].forEach((domain, i) => {
          depth[domain] = Number(replies[i]?.[1] ?? 0);
        });
        return { depth };
      },
    },
    health: () => ({
      status: redis.status === 'ready' ? 'up' : 'degraded',
      details: { redis: redis.status, active_key_id: store.activeKey().id, pepper_id: store.activePepper().id },
    }),
    // New or changed domains only change key names and limits: no need to drop a connection.
    reconfigure: (next) => {
      keys = keysFor(next);
      planner = new EnqueuePlanner(next, seal, replicaWait);
    },
    drain: async () => {
      watcher.stop();
      // Appends already sent to Redis get their answers before the connection closes.
      const deadline = Date.now() + 5000;
      while (inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      await redis.quit().catch(() => redis.disconnect());
    },
  };
});
