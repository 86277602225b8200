/**
 * `mb purge --client NAME [--domain D] [--include-pending]`: erase one client's messages
 * (a data-subject request, a client leaving), and `mb purge --expired`: run the retention
 * purge now instead of waiting for the broker's schedule. Both are audited. What happens
 * to messages still waiting for delivery: src/retention/retention.service.ts.
 */
import type { Command } from 'commander';
import { AuditRepository } from '../db/audit.repository.js';
import { ClientsRepository } from '../db/clients.repository.js';
import { RetentionRepository } from '../db/retention.repository.js';
import { RetentionService } from '../retention/retention.service.js';
import { withContext } from './cli-context.js';

export function registerPurgeCommands(program: Command): void {
  program
    .command('purge')
    .description(
      "Erase a client's stored messages (--client), or purge what is past retention now (--expired); audited",
    )
    .option('--client <name>', 'client name or name.domain')
    .option('--domain <name>', 'domain of the client, when its name exists in several')
    .option('--include-pending', 'also erase messages still waiting for delivery (cancels those deliveries)')
    .option('--expired', 'run the retention purge (retention.days and per-domain overrides) now')
    .action(
      async (
        options: { client?: string; domain?: string; includePending?: boolean; expired?: boolean },
        command: Command,
      ) => {
        if (!options.client === !options.expired) command.error('Give either --client NAME or --expired');
        await withContext(command, async (context) => {
          const db = context.database().db;
          const service = new RetentionService({
            redis: await context.redis(),
            retention: new RetentionRepository(db),
            clients: new ClientsRepository(db),
            audit: new AuditRepository(db),
          });
          if (options.expired) {
            const results = await service.purgeExpired(context.config);
            if (results.length === 0)
              process.stdout.write('no domain has a retention period (retention.days is 0 everywhere)\n');
            for (const r of results)
              process.stdout.write(
                `${r.domain}: deleted ${r.deleted} message(s) older than ${r.days} day(s) (before ${r.cutoff}), ${r.deleted_undelivered} of them undelivered\n`,
              );
            return;
          }
          const result = await service.purgeClient(context.config, {
            client: options.client!,
            ...(options.domain ? { domain: options.domain } : {}),
            includePending: options.includePending === true,
            actor: 'cli',
          });
          process.stdout.write(`erased ${result.deleted} message(s) of ${result.client}\n`);
          if (result.kept_pending > 0) {
            process.stdout.write(
              `kept ${result.kept_pending} message(s) still waiting for delivery; run again when they are delivered or failed, or add --include-pending\n`,
            );
          }
        });
      },
    );
}
