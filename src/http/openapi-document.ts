/**
 * Builds the OpenAPI document from the routes, without starting anything: the front is
 * built with inert dependencies (no route is called), made ready, and asked for its
 * spec. `npm run openapi` runs this file and writes openapi.json at the repository root.
 *
 * Every route group a running broker mounts under a documented path must be mounted here
 * too (the certificate admin API was once missing): test/e2e/client-api.e2e.test.ts
 * compares the committed file with what a started broker serves at /docs/json.
 */
import { writeFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { loadConfig } from '../config/config.js';
import { LiveConfig } from '../config/live-config.js';
import { BrokerError } from '../errors.js';
import type { HealthService } from '../health/health.service.js';
import { createLogger } from '../logger.js';
import { IdentityResolver } from './client-identity.js';
import { EventHub } from '../events/event-hub.js';
import { buildServer } from './server.js';

export const OPENAPI_FILE = new URL('../../openapi.json', import.meta.url);

export async function buildOpenApiDocument(): Promise<Record<string, unknown>> {
  // Defaults only: the document must not depend on the machine or its environment.
  const config = loadConfig({ values: {}, env: {} });
  const redis = new Redis({ lazyConnect: true });
  const app = buildServer({
    config: new LiveConfig(config),
    logger: createLogger('silent'),
    identity: new IdentityResolver(async () => undefined, 0),
    ingest: { enqueue: () => Promise.reject(new BrokerError('QUEUE_UNAVAILABLE')) },
    health: {} as HealthService,
    redis,
    messages: { findOne: async () => undefined },
    // Never started: it only has to exist for the route to be mounted.
    events: new EventHub({ redis, blocking: redis, prefix: config.redis.key_prefix, logger: createLogger('silent') }),
    caAdmin: {
      ca: { call: () => Promise.reject(new BrokerError('ACTOR_UNAVAILABLE')) },
      authorize: async () => {
        throw new BrokerError('SESSION_REQUIRED');
      },
      scope: () => ({ actor: 'openapi', domain: null }),
      clients: {
        clients: { findByNameAndDomain: async () => undefined, setStatusCallback: async () => false },
        domainCallback: () => undefined,
        status: { set: () => Promise.reject(new BrokerError('STORAGE_UNAVAILABLE')) },
        audit: { record: async () => 0 },
      },
    },
  });
  try {
    await app.ready();
    return app.swagger() as unknown as Record<string, unknown>;
  } finally {
    await app.close();
    redis.disconnect();
  }
}

export function formatOpenApi(document: Record<string, unknown>): string {
  return `${JSON.stringify(document, null, 2)}\n`;
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  const document = await buildOpenApiDocument();
  writeFileSync(OPENAPI_FILE, formatOpenApi(document));
  process.stdout.write(`wrote ${OPENAPI_FILE.pathname}\n`);
}
