/**
 * A second broker started from a checkout of its own — its own freshly generated data key
 * `k1`, pepper `p1` and CA — against the running installation's Redis and database, under
 * load: it refuses to start (naming the key, the directory and the fix) and so writes
 * nothing; `mb` on that host refuses too. Every row stored meanwhile opens with the first
 * host's keys, and the recorded fingerprints are unchanged.
 */
import { join } from 'node:path';
import { createConnection } from 'mysql2/promise';
import { EncryptionService } from '../../src/crypto/encryption.service.js';
import { KeyStore } from '../../src/crypto/key-store.js';
import { BrokerProcess, createWorkspace } from '../../test/support/broker-harness.js';
import { runCli } from '../../test/support/mb-cli.js';
import { freePort } from '../../test/support/redis-server.js';
import { runChaos, standardVerdict, type Scenario } from '../scenario-support.js';

interface StoredEnvelope {
  message_id: string;
  body_enc: Buffer;
  sender_enc: Buffer;
}

export const keyMismatch: Scenario = {
  name: 'key-mismatch',
  proves:
    "A second broker with keys and a CA of its own, started against the installation's Redis and database under load, refuses to start and writes nothing (mb on that host refuses too); every stored row opens with the installation's keys; nothing acknowledged lost.",
  run: (options) => {
    const failures: string[] = [];
    return runChaos(
      'key-mismatch',
      { fsync: 'always' },
      options,
      async (run) => {
        const { workspace } = run.env;
        const database = await createConnection({ uri: workspace.database.url });
        const fingerprints = async () =>
          JSON.stringify(
            (
              await database.query(
                'SELECT kind, secret_id, fingerprint FROM secret_fingerprints ORDER BY kind, secret_id',
              )
            )[0],
          );
        // Same Redis, key prefix and database; secrets, certificates and data its own.
        const second = await createWorkspace(
          {
            log: { level: 'warn' },
            database: { url: workspace.database.url },
            redis: { key_prefix: workspace.prefix },
          },
          run.env.redis.url,
        );
        try {
          const recordedBefore = await fingerprints();
          run.startLoad('key-mismatch');
          await run.until(options.durationS / 3);
          const other = new BrokerProcess(second, { MB_SERVER_PORT: String(await freePort()) });
          const startedAt = Date.now();
          const outcome = await other.start().then(
            () => 'listening',
            (error: Error) => error.message.split('\n')[0]!,
          );
          await other.kill('SIGKILL');
          const named = /data key k1 in \S+ is not the data key k1 this database knows/.test(other.output);
          const cli = await runCli(['keys', 'status'], { configPath: second.configPath });
          run.notes.push(
            `second broker: ${outcome} after ${((Date.now() - startedAt) / 1000).toFixed(1)} s${named ? ', naming data key k1 and the fix' : ''}; mb keys status there: exit ${cli.code}`,
          );
          if (outcome === 'listening') failures.push('the second broker started');
          if (!named) failures.push('the refusal does not name data key k1');
          if (cli.code !== 1 || !/is not the data key k1/.test(cli.stderr))
            failures.push('mb on the second host did not refuse');
          await run.until(options.durationS);

          // Everything stored opens with the installation's (the first host's) keys.
          const [rows] = (await database.query('SELECT message_id, body_enc, sender_enc FROM messages')) as unknown as [
            StoredEnvelope[],
          ];
          const service = new EncryptionService(await KeyStore.open(join(workspace.dir, 'data/secrets')));
          const unreadable = service.open(rows).filter((r) => !r.ok).length;
          run.notes.push(`${rows.length} stored rows checked: ${unreadable} unreadable`);
          if (unreadable > 0) failures.push(`${unreadable} stored rows do not open with the installation's keys`);
          if ((await fingerprints()) !== recordedBefore) failures.push('the recorded fingerprints changed');
        } finally {
          await database.end();
          await second.cleanup();
        }
      },
      (counts) => [...standardVerdict(counts), ...failures],
    );
  },
};
