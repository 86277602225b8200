/**
 * The disk under Redis' AOF fills up under load: Redis' dir is a small tmpfs (mounted by
 * the scenario: it runs as root), and a filler file takes the rest. Redis reports the
 * failed AOF write (`aof_last_write_status:err`) and refuses writes (MISCONF); the broker
 * stops answering 202 within a second (503, /readyz 503). What Redis had acknowledged
 * before stays in its AOF buffer and is written once the filler is removed, and the
 * broker accepts again by itself. queue.fsync everysec, the production default.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { sleep } from '../ledger-load.js';
import { ReadinessProbe } from '../readiness-probe.js';
import { runChaos, standardVerdict, type Scenario } from '../scenario-support.js';

const TMPFS = '32m';
const DETECT_TIMEOUT_MS = 20_000;
const RECOVER_TIMEOUT_MS = 30_000;

/** Writes `path` until the filesystem is full; returns the bytes written. */
function fillDisk(path: string): number {
  const fd = openSync(path, 'w');
  let written = 0;
  try {
    for (const size of [1024 * 1024, 4096, 64]) {
      const chunk = Buffer.alloc(size, 0x5a);
      for (;;) {
        try {
          written += writeSync(fd, chunk);
        } catch {
          break; // ENOSPC: on to smaller chunks, so that really nothing is left
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return written;
}

export const aofDiskFull: Scenario = {
  name: 'aof-disk-full',
  proves:
    "Redis' AOF disk full under load (everysec): submits 503 and /readyz 503 within seconds of Redis' failed write, what was acknowledged is written once space frees, 202s resume by themselves; nothing acknowledged lost.",
  run: (options) => {
    const failures: string[] = [];
    return runChaos(
      'aof-disk-full',
      {
        fsync: 'everysec',
        beforeRedis: (redis) => {
          execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS},mode=0700`, 'tmpfs', redis.dir]);
        },
        afterRedis: (redis) => {
          try {
            execFileSync('umount', [redis.dir], { stdio: 'ignore' });
          } catch {
            // Not mounted (the mount itself failed): nothing to undo.
          }
        },
      },
      options,
      async (run) => {
        const readiness = new ReadinessProbe(run.env.urls[0]!, run.env.bundle).start();
        const redis = new Redis(run.env.redis.url);
        const filler = join(run.env.redis.dir, 'filler');
        const aofFailed = async () => /aof_last_write_status:err/.test(await redis.info('persistence'));
        try {
          run.startLoad('aof-full');
          await run.until(options.durationS / 3);
          const filledAt = Date.now();
          const bytes = fillDisk(filler);
          let failedAt = 0;
          while (Date.now() - filledAt < DETECT_TIMEOUT_MS) {
            if (await aofFailed()) {
              failedAt = Date.now();
              break;
            }
            await sleep(50);
          }
          await sleep((options.outageS ?? 5) * 1000);
          rmSync(filler);
          const freedAt = Date.now();
          let acceptedAt = 0;
          while (Date.now() - freedAt < RECOVER_TIMEOUT_MS) {
            if (run.ledger.answeredBetween(freedAt, Date.now()).acknowledged > 0) {
              acceptedAt = Date.now();
              break;
            }
            await sleep(100);
          }
          await run.until(options.durationS);

          const refused = failedAt ? run.ledger.answeredBetween(failedAt + 1500, freedAt) : undefined;
          const notReadyIn = failedAt ? readiness.firstAfter(failedAt, false) : undefined;
          run.notes.push(
            `filler ${(bytes / 1e6).toFixed(1)} MB; AOF write failed ${failedAt ? failedAt - filledAt : '—'} ms after; then ${refused?.acknowledged ?? '—'} acknowledged, refused ${JSON.stringify(refused?.refusedBy ?? {})}; not ready after ${notReadyIn ?? '∞'} ms; 202s again ${acceptedAt ? acceptedAt - freedAt : '∞'} ms after space freed`,
          );
          if (!failedAt) failures.push('Redis never reported a failed AOF write (the disk did not fill)');
          if (refused && refused.acknowledged > 0)
            failures.push(`${refused.acknowledged} acknowledged while the AOF could not be written`);
          if (failedAt && notReadyIn === undefined) failures.push('/readyz never turned 503');
          if (!acceptedAt) failures.push('no 202 after space was freed');
        } finally {
          rmSync(filler, { force: true });
          await readiness.stop();
          redis.disconnect();
        }
      },
      (counts) => [...standardVerdict(counts), ...failures],
    );
  },
};
