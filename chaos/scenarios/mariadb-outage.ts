/**
 * MariaDB unavailable to the broker for a while under load. The machine's MariaDB is
 * shared, so the broker reaches it through a TCP proxy that the scenario cuts (every
 * connection reset, new ones refused) and restores.
 */
import { TcpProxy } from '../../test/support/tcp-proxy.js';
import { runChaos, type Scenario } from '../scenario-support.js';
import { sleep } from '../ledger-load.js';

const DRAINED_BELOW = 100;

export const mariadbOutage: Scenario = {
  name: 'mariadb-outage',
  proves:
    'With MariaDB gone, the broker keeps acknowledging (the queue is Redis); store batches fail and stay pending, and once MariaDB is back the backlog drains: nothing lost, nothing stored twice.',
  run: async (options) => {
    let proxy: TcpProxy | undefined;
    const outageS = options.outageS ?? 30;
    try {
      return await runChaos(
        'mariadb-outage',
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
          run.startLoad('mariadb');
          // Load before, during and after the outage.
          const before = options.durationS / 2;
          await run.until(before);
          await proxy!.cut();
          const cutAt = Date.now();
          const ackedBefore = run.ledger.acknowledgedIds().length;
          await sleep(outageS * 1000);
          const backlog = await run.env.queueBacklog();
          await proxy!.restore();
          const restoredAt = Date.now();
          const ackedDuring = run.ledger.acknowledgedIds().length - ackedBefore;
          run.notes.push(
            `MariaDB away ${((restoredAt - cutAt) / 1000).toFixed(0)} s, ${ackedDuring} acknowledged meanwhile`,
          );
          // The backlog drains while the load goes on: it is down to what is normally in flight.
          const end = before + outageS + options.durationS / 2;
          while ((await run.env.queueBacklog()) > DRAINED_BELOW && Date.now() < restoredAt + end * 1000)
            await sleep(200);
          run.notes.push(
            `backlog ${backlog} → under ${DRAINED_BELOW} ${((Date.now() - restoredAt) / 1000).toFixed(1)} s after MariaDB was back (load still running)`,
          );
          await run.until(end);
        },
      );
    } finally {
      await proxy?.close();
    }
  },
};
