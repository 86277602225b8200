/**
 * Readiness with MySQL unreachable (a real pool on a port nothing listens on): not ready when
 * accepting needs MySQL, ready when identities are shared in Redis (the broker accepts
 * without MySQL, so a load balancer must keep sending) — the health report says `mysql: down`
 * either way.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/database.js';
import { HealthService } from '../../src/health/health.service.js';
import { freePort } from '../support/redis-server.js';
import { useTestRedis } from '../support/test-fixtures.js';

const { redis } = useTestRedis();
const unreachable = openDatabase({ url: `mysql://root@127.0.0.1:${await freePort()}/nothing`, poolSize: 1 });
afterAll(() => unreachable.close());

function health(mysqlNeededToAccept: boolean | undefined): HealthService {
  return new HealthService({
    instanceId: 'readiness-test',
    version: 'test',
    redis,
    pingDatabase: async () => void (await unreachable.pool.query('SELECT 1')),
    actors: [],
    durability: () => undefined,
    serverCertificateNotAfter: () => undefined,
    ...(mysqlNeededToAccept === undefined ? {} : { mysqlNeededToAccept }),
  });
}

describe('readiness while MySQL is unreachable', () => {
  it('is not ready when accepting needs MySQL (the default)', async () => {
    for (const needed of [undefined, true])
      expect(await health(needed).readiness()).toEqual({ ready: false, reasons: ['mysql unreachable'] });
  });

  it('stays ready when client identities are shared in Redis; the report still says mysql down', async () => {
    const service = health(false);
    expect(await service.readiness()).toEqual({ ready: true, reasons: [] });
    expect((await service.report()).components.mysql?.status).toBe('down');
  });
});
