/** `mb dead-letter list|redrive`: see and re-queue what a domain's downstream never took. */
import type { Command } from 'commander';
import { AuditRepository } from '../db/audit.repository.js';
import { MessagesRepository } from '../db/messages.repository.js';
import { LiveConfig } from '../config/live-config.js';
import { DeadLetterService } from '../dead-letters/dead-letter.service.js';
import { withContext } from './cli-context.js';
import { commandGroup } from './cli-support.js';

export function registerDeadLetterCommands(program: Command): void {
  const group = commandGroup(program, 'dead-letter').description(
    'Dead-lettered messages of a domain: list and redrive',
  );

  group
    .command('list')
    .description('List the newest dead letters of a domain')
    .requiredOption('--domain <name>', 'domain')
    .option('--target <name>', "one of the domain's targets (default: its default target)")
    .option('--count <n>', 'how many', '50')
    .option('--json', 'machine-readable output')
    .action(async (options: { domain: string; target?: string; count: string; json?: boolean }, command: Command) => {
      await withContext(command, async (context) => {
        const db = context.database();
        const service = new DeadLetterService(
          new LiveConfig(context.config),
          await context.redis(),
          new MessagesRepository(db.db),
          new AuditRepository(db.db),
        );
        const { entries: letters } = await service.page(options.domain, {
          limit: Number(options.count),
          ...(options.target ? { target: options.target } : {}),
        });
        if (options.json) process.stdout.write(`${JSON.stringify(letters, null, 2)}\n`);
        else if (letters.length === 0) process.stdout.write(`no dead letters in ${options.domain}\n`);
        else
          for (const l of letters)
            process.stdout.write(`${l.dead_at}  ${l.message_id}  attempts=${l.attempts}  ${l.last_error}\n`);
      });
    });

  group
    .command('redrive')
    .description('Give dead-lettered messages a fresh set of delivery attempts (audited)')
    .requiredOption('--domain <name>', 'domain')
    .option('--target <name>', "one of the domain's targets (default: its default target)")
    .option('--message <id...>', 'message ids to redrive')
    .option('--all', 'redrive every dead letter of the domain')
    .action(
      async (options: { domain: string; target?: string; message?: string[]; all?: boolean }, command: Command) => {
        if (!options.all && !options.message?.length) command.error('Give --message ID… or --all');
        await withContext(command, async (context) => {
          const db = context.database();
          const service = new DeadLetterService(
            new LiveConfig(context.config),
            await context.redis(),
            new MessagesRepository(db.db),
            new AuditRepository(db.db),
          );
          const result = await service.redrive(
            options.domain,
            options.all ? 'all' : options.message!,
            'cli',
            undefined,
            options.target,
          );
          process.stdout.write(
            `requeued ${result.requeued} message(s), removed ${result.removed} dead-letter entr${result.removed === 1 ? 'y' : 'ies'}\n`,
          );
        });
      },
    );
}
