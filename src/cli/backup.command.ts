/**
 * `mb backup --out DIR [--secrets-out DIR2]` and `mb restore --from DIR [--secrets-from DIR2]
 * [--force]`: what each half holds and why they are kept apart is in src/backup/.
 */
import type { Command } from 'commander';
import type { Redis } from 'ioredis';
import { createBackup } from '../backup/backup.service.js';
import { restoreBackup } from '../backup/restore.service.js';
import { AuditRepository } from '../db/audit.repository.js';
import { openDatabase } from '../db/database.js';
import { listInstances } from '../instances/instance-registry.js';
import { withContext } from './cli-context.js';

const say = (line: string): void => void process.stdout.write(`${line}\n`);

export function registerBackupCommands(program: Command): void {
  program
    .command('backup')
    .description('Write a consistent database dump and, separately, the data keys, pepper and CA')
    .requiredOption('--out <dir>', 'new directory for the database dump and manifest')
    .option('--secrets-out <dir>', 'new directory for keys and CA (default <out>/secrets; better: another medium)')
    .action(async (options: { out: string; secretsOut?: string }, command: Command) => {
      await withContext(command, async (context) => {
        const database = context.database();
        const result = await createBackup(context.config, database, {
          out: options.out,
          ...(options.secretsOut ? { secretsOut: options.secretsOut } : {}),
        });
        const m = result.manifest;
        await new AuditRepository(database.db).record({
          actor: 'cli',
          action: 'backup.create',
          target_type: 'backup',
          target_id: m.backup_id,
          details: { messages: m.database.messages, bytes: m.database.bytes },
        });
        say(
          `backup ${m.backup_id}: ${m.database.messages} message(s), ${m.database.bytes} bytes of SQL (${m.database.tool} --single-transaction)`,
        );
        say(`  database half: ${result.out}`);
        say(
          `  secrets half:  ${result.secretsDir} (${result.secretFiles} files: data keys ${m.key_ids.data_keys.join(',')}, peppers ${m.key_ids.peppers.join(',')}, CA and certificates)`,
        );
        process.stderr.write(
          `WARNING: ${result.secretsDir} holds the data keys, the HMAC pepper and the CA private key.\n` +
            '  Store it apart from the database dump (another medium, other people with access): whoever holds both\n' +
            '  can read every message and issue client certificates. Without it the dump cannot be decrypted.\n',
        );
      });
    });

  program
    .command('restore')
    .description(
      'Restore a backup into the configured database, secrets.dir and pki.dir (stop every broker first: refused while one runs)',
    )
    .requiredOption('--from <dir>', 'the database half (directory with manifest.json)')
    .option('--secrets-from <dir>', 'the secrets half (default <from>/secrets)')
    .option('--force', 'replace a non-empty database and existing key files')
    .option('--no-reschedule', 'leave Redis alone (queued webhook messages are then not retried until rescheduled)')
    .action(
      async (
        options: { from: string; secretsFrom?: string; force?: boolean; reschedule?: boolean },
        command: Command,
      ) => {
        await withContext(
          command,
          async (context) => {
            let redis;
            try {
              redis = await context.redis();
            } catch {
              say(
                options.reschedule === false
                  ? 'Redis does not answer: make sure no broker runs against this database'
                  : 'Redis does not answer: queued webhook messages are not rescheduled (run mb restore again with Redis up, or redrive), and make sure no broker runs against this database',
              );
            }
            // A broker running meanwhile goes on writing: messages it answered 202 during the
            // restore are lost with the database it replaces. Its heartbeat says it runs.
            if (redis) await refuseWhileBrokersRun(redis, context.config.redis.key_prefix);
            if (options.reschedule === false) redis = undefined;
            const result = await restoreBackup(context.config, {
              from: options.from,
              ...(options.secretsFrom ? { secretsFrom: options.secretsFrom } : {}),
              force: options.force === true,
              ...(redis ? { redis } : {}),
            });
            const database = openDatabase({ url: context.config.database.url, poolSize: 1 });
            try {
              await new AuditRepository(database.db).record({
                actor: 'cli',
                action: 'backup.restore',
                target_type: 'backup',
                target_id: result.manifest.backup_id,
                details: { messages: result.messages, force: options.force === true },
              });
            } finally {
              await database.close();
            }
            say(
              `restored backup ${result.manifest.backup_id} of ${result.manifest.created_at}: ${result.messages} message(s)`,
            );
            say(`  keys into ${context.config.secrets.dir}, CA and certificates into ${context.config.pki.dir}`);
            say(
              `  decrypted ${result.verified.opened}/${result.verified.tried} sampled message(s) with the restored keys`,
            );
            if (result.rescheduled !== null)
              say(`  ${result.rescheduled} queued webhook message(s) put back on the delivery schedule`);
            if (result.verified.opened < result.verified.tried) {
              say('ERROR: some messages do not decrypt: these keys do not belong to this dump');
              process.exitCode = 1;
            }
            // Keys, CA and database come back together: what was here before is not compared.
          },
          { verifySecrets: false },
        );
      },
    );
}

async function refuseWhileBrokersRun(redis: Redis, prefix: string): Promise<void> {
  const running = await listInstances(redis, prefix);
  if (running.length === 0) return;
  const names = running.map((i) => `${i.instance_id} (${i.host} pid ${i.pid})`).join(', ');
  throw new Error(
    `refusing to restore while ${running.length} broker(s) run against this installation: ${names}. ` +
      'Stop them first (a stopped broker’s heartbeat is gone within three heartbeat intervals).',
  );
}
