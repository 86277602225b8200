/**
 * Ingest actor: makes accepted messages durable in the domain streams. The front batches
 * requests that arrive together into one `ingest.append`; this actor writes each batch as
 * one Redis pipeline (group commit) of one `enqueue-n` script per domain — which checks
 * each request's Idempotency-Key, daily quota and rate limit in the same step as it
 * appends — and answers per request.
 */
import { keysFor } from '../../queue/keys.js';
import { createRedis, whenReady } from '../../queue/redis-connection.js';
import { defineScripts } from '../../queue/scripts.js';
import { runActor } from '../actor-runtime.js';
import { initIngestMetrics, observeEnqueue } from './ingest.metrics.js';
import { EnqueuePlanner, queueUnavailable } from '../../ingest/enqueue-planner.js';
import type { IngestProtocol } from './ingest.protocol.js';

runActor<IngestProtocol>(async ({ config, logger }) => {
  const redis = createRedis(config, 'ingest');
  redis.on('error', (error) => logger.warn({ err: error.message }, 'redis connection error'));
  // Defined up front: a script that cannot be loaded stops the actor at start, not at the first request.
  defineScripts(redis);
  // Not fatal: while Redis is away, appends are refused (503) until it answers.
  await whenReady(redis);
  let keys = keysFor(config);
  initIngestMetrics(keys.keys());
  let planner = new EnqueuePlanner(config);
  let inFlight = 0;

  const unavailable = (error: unknown) => {
    logger.warn({ err: error instanceof Error ? error.message : String(error) }, 'redis refused an append');
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
          return { results };
        } catch (error) {
          const results = requests.map(() => unavailable(error));
          observeEnqueue(requests, results, (performance.now() - started) / 1000);
          return { results };
        } finally {
          inFlight--;
        }
      },
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
    health: () => ({ status: redis.status === 'ready' ? 'up' : 'degraded', details: { redis: redis.status } }),
    // New or changed domains only change key names and limits: no need to drop a connection.
    reconfigure: (next) => {
      keys = keysFor(next);
      planner = new EnqueuePlanner(next);
    },
    drain: async () => {
      // Appends already sent to Redis get their answers before the connection closes.
      const deadline = Date.now() + 5000;
      while (inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      await redis.quit().catch(() => redis.disconnect());
    },
  };
});
