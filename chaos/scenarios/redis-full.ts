/**
 * Redis filling up under load (`noeviction`, a small `maxmemory`) while MariaDB is away,
 * so nothing drains: the broker refuses with 503 QUEUE_FULL and `/readyz` 503 once Redis
 * reaches its share of `maxmemory` (redis.max_memory_percent, 90), before Redis itself is
 * out of memory; when MariaDB is back, delivery stores and deletes the backlog, memory
 * frees, and the broker accepts again by itself. MariaDB is reached through a TCP proxy
 * the scenario cuts (the machine's MariaDB is shared).
 */
import { Redis } from 'ioredis';
import { TcpProxy } from '../../test/support/tcp-proxy.js';
import { sleep } from '../ledger-load.js';
import { ReadinessProbe } from '../readiness-probe.js';
import { runChaos, standardVerdict, type Scenario } from '../scenario-support.js';

/** What Redis may grow by before the broker's limit: a few thousand sealed messages. */
const HEADROOM_BYTES = 1024 * 1024;
const FILL_TIMEOUT_MS = 60_000;
const RECOVER_TIMEOUT_MS = 120_000;

export const redisFull: Scenario = {
  name: 'redis-full',
  proves:
    'Redis filling up (noeviction, small maxmemory, MariaDB away so nothing drains): 503 QUEUE_FULL and /readyz 503 before Redis is out of memory; once MariaDB is back the backlog drains, memory frees and 202s resume by themselves; nothing acknowledged lost.',
  run: async (options) => {
    let proxy: TcpProxy | undefined;
    const failures: string[] = [];
    try {
      return await runChaos(
        'redis-full',
        {
          fsync: 'always',
          prepare: async (workspace) => {
            const direct = new URL(workspace.database.url);
            proxy = await TcpProxy.create(direct.hostname, Number(direct.port || 3306));
            direct.port = String(proxy.port);
            workspace.reconfigure({ database: { url: direct.toString() } });
          },
        },
        options,
        async (run) => {
          const readiness = new ReadinessProbe(run.env.urls[0]!, run.env.bundle).start();
          const redis = new Redis(run.env.redis.url);
          try {
            run.startLoad('full');
            await run.until(options.durationS / 4);
            const used = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);
            // The broker refuses at 90% of maxmemory: that is `used + HEADROOM_BYTES`.
            const maxmemory = Math.ceil((used + HEADROOM_BYTES) / 0.9);
            await redis.config('SET', 'maxmemory', String(maxmemory));
            await proxy!.cut();
            const cutAt = Date.now();
            let fullAt = 0;
            while (Date.now() - cutAt < FILL_TIMEOUT_MS) {
              if ((run.ledger.answeredBetween(cutAt, Date.now()).refusedBy.QUEUE_FULL ?? 0) > 0) {
                fullAt = Date.now();
                break;
              }
              await sleep(200);
            }
            await sleep((options.outageS ?? 5) * 1000);
            const peak = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);
            await proxy!.restore();
            const restoredAt = Date.now();
            let acceptedAt = 0;
            while (Date.now() - restoredAt < RECOVER_TIMEOUT_MS) {
              if (run.ledger.answeredBetween(restoredAt + 500, Date.now()).acknowledged > 0) {
                acceptedAt = Date.now();
                break;
              }
              await sleep(200);
            }
            await run.until(options.durationS);

            const full = run.ledger.answeredBetween(fullAt + 2000, restoredAt);
            const notReadyIn = fullAt ? readiness.firstAfter(fullAt, false) : undefined;
            const readyIn = acceptedAt ? readiness.firstAfter(restoredAt, true) : undefined;
            run.notes.push(
              `maxmemory ${(maxmemory / 1e6).toFixed(1)} MB: full ${fullAt ? ((fullAt - cutAt) / 1000).toFixed(1) : '—'} s after MariaDB went, peak used ${(peak / 1e6).toFixed(1)} MB (${((100 * peak) / maxmemory).toFixed(0)}%); ${full.acknowledged} acknowledged at the edge while full; not ready ${notReadyIn ?? '∞'} ms after; 202s again ${acceptedAt ? ((acceptedAt - restoredAt) / 1000).toFixed(1) : '∞'} s after MariaDB was back, ready after ${readyIn ?? '∞'} ms`,
            );
            if (!fullAt) failures.push('never refused as QUEUE_FULL');
            // A few 202s at the edge are fine (used_memory hovers around the limit, Redis
            // still has room): the promise is that Redis never runs out.
            if (peak >= maxmemory) failures.push('Redis itself reached maxmemory');
            if (fullAt && notReadyIn === undefined) failures.push('/readyz never turned 503 while full');
            if (!acceptedAt) failures.push('no 202 after MariaDB was back');
          } finally {
            await readiness.stop();
            redis.disconnect();
          }
        },
        (counts) => [...standardVerdict(counts), ...failures],
      );
    } finally {
      await proxy?.close();
    }
  },
};
