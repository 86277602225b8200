/**
 * MariaDB away for minutes (3 by default, `--outage`), far past the broker's in-memory
 * identity cache, while the load keeps opening NEW connections: they must keep being
 * accepted (the identity comes from the cache shared in Redis, src/queue/identity-cache.ts),
 * nothing acknowledged may be lost, and the broker's RSS must stay within its target while
 * the backlog waits in Redis. MariaDB is reached through a TCP proxy, as in mariadb-outage.
 */
import { Agent, request } from 'undici';
import { TcpProxy } from '../../test/support/tcp-proxy.js';
import type { LedgerCounts } from '../ledger.js';
import { sleep } from '../ledger-load.js';
import { BROKER_RSS_TARGET_MB, RssSampler } from '../rss-sampler.js';
import { runChaos, standardVerdict, type ChaosRun, type Scenario } from '../scenario-support.js';

const DEFAULT_OUTAGE_S = 180;

export const mysqlLongOutage: Scenario = {
  name: 'mysql-long-outage',
  proves:
    "With MariaDB away for minutes, far past the in-memory identity cache, new client connections keep getting 202 (identities from the cache shared in Redis): nothing lost, no STORAGE_UNAVAILABLE, and the broker's RSS stays within its target while the backlog waits in Redis.",
  run: async (options) => {
    const outageS = options.outageS ?? DEFAULT_OUTAGE_S;
    // Short enough that most of the outage runs past it (the short test's few seconds too).
    const identityCacheMs = clamp(outageS * 250, 500, 10_000);
    const freshConnectionsEveryMs = clamp(identityCacheMs / 2, 250, 2000);
    let proxy: TcpProxy | undefined;
    let rss: RssSampler | undefined;
    /** Acknowledged once the memory cache had expired: only Redis could have named the client. */
    let ackedPastMemoryCache = 0;
    let connectionsDuringOutage = 0;
    try {
      return await runChaos(
        'mysql-long-outage',
        {
          fsync: 'always',
          values: { server: { identity_cache_ms: identityCacheMs } },
          prepare: async (workspace) => {
            const direct = new URL(workspace.database.url);
            proxy = await TcpProxy.create(direct.hostname, Number(direct.port || 3306));
            direct.port = String(proxy.port);
            workspace.reconfigure({ database: { url: direct.toString() } });
          },
        },
        options,
        async (run) => {
          rss = new RssSampler(() => run.env.brokers[0]?.child?.pid);
          rss.start();
          const load = run.startLoad('mysql-long', undefined, undefined, { freshConnectionsEveryMs });
          const before = options.durationS / 2;
          await run.until(before);
          const redisAnswersBefore = await identityLookups(run, 'redis');
          const rssMarks = [rss.mark('RSS now/peak: at the cut')];
          await proxy!.cut();
          const cutAt = Date.now();
          const connectionsAtCut = load.connectionsOpened;
          // Past the memory cache (and a new connection or two after it): from here on, every
          // new connection's identity can only come from Redis.
          await sleep(identityCacheMs + freshConnectionsEveryMs + 500);
          const ackedAtExpiry = run.ledger.acknowledgedIds().length;
          while (Date.now() < cutAt + outageS * 1000) {
            await sleep(Math.min(30_000, Math.max(0, cutAt + outageS * 1000 - Date.now())));
            run.log(rss.mark(`${((Date.now() - cutAt) / 1000).toFixed(0)} s into the outage, RSS now/peak`));
          }
          rssMarks.push(rss.mark('at the restore'));
          ackedPastMemoryCache = run.ledger.acknowledgedIds().length - ackedAtExpiry;
          connectionsDuringOutage = load.connectionsOpened - connectionsAtCut;
          const redisAnswers = (await identityLookups(run, 'redis')) - redisAnswersBefore;
          await proxy!.restore();
          run.notes.push(
            `MariaDB away ${((Date.now() - cutAt) / 1000).toFixed(0)} s (identity_cache_ms ${identityCacheMs}); ` +
              `${connectionsDuringOutage} new connections meanwhile, ${redisAnswers} identities answered by Redis; ` +
              `${ackedPastMemoryCache} acknowledged after the memory cache expired`,
          );
          await run.until(before + outageS + options.durationS / 2);
          rssMarks.push(rss.mark('at the end'));
          rss.stop();
          run.notes.push(`${rssMarks.join(', ')}; target ${BROKER_RSS_TARGET_MB} MB`);
        },
        (counts: LedgerCounts) => {
          const failures = standardVerdict(counts);
          const storage = counts.refusedBy.STORAGE_UNAVAILABLE ?? 0;
          if (storage > 0) failures.push(`${storage} requests refused with STORAGE_UNAVAILABLE (MySQL was needed)`);
          if (connectionsDuringOutage === 0) failures.push('the load opened no new connection during the outage');
          if (ackedPastMemoryCache === 0) failures.push('nothing was acknowledged once the memory cache had expired');
          if (!rss || rss.samples === 0) failures.push('the broker RSS could not be sampled');
          else if (rss.peakMb > BROKER_RSS_TARGET_MB)
            failures.push(`broker peak RSS ${rss.peakMb.toFixed(0)} MB over its ${BROKER_RSS_TARGET_MB} MB target`);
          return failures;
        },
      );
    } finally {
      rss?.stop();
      await proxy?.close();
    }
  },
};

function clamp(value: number, min: number, max: number): number {
  return Math.round(Math.min(max, Math.max(min, value)));
}

/** `mb_identity_lookups_total{source}` of the first broker (a loopback scrape needs no credentials). */
async function identityLookups(run: ChaosRun, source: string): Promise<number> {
  const agent = new Agent({ connect: { ca: run.env.bundle.ca } });
  try {
    const response = await request(`${run.env.urls[0]}/metrics`, { dispatcher: agent });
    const text = await response.body.text();
    const line = new RegExp(`^mb_identity_lookups_total\\{source="${source}"\\} (\\d+)`, 'm').exec(text);
    return line ? Number(line[1]) : 0;
  } catch {
    return 0;
  } finally {
    await agent.close();
  }
}
