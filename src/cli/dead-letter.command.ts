/** `mb dead-letter list|redrive`: see and re-queue what a domain's downstream never took. */
import { type Command, Option } from 'commander';
import { AuditRepository } from '../db/audit.repository.js';
import { MessagesRepository } from '../db/messages.repository.js';
import { LiveConfig } from '../config/live-config.js';
import { DeadLetterService } from '../dead-letters/dead-letter.service.js';
import { withContext } from './cli-context.js';
import { commandGroup, parsePositiveInt } from './cli-support.js';
import type { BrokerConfig } from '../config/config.js';
import { BrokerError } from '../errors.js';

export function registerDeadLetterCommands(program: Command): void {
  const group = commandGroup(program, 'dead-letter').description(
    'Dead-lettered messages of a domain: list and redrive',
  );

  group
    .command('list')
    .description('List the newest dead letters of a domain')
    .requiredOption('--domain <name>', 'domain')
    .option(
      '--target <name>',
      "one of the domain's targets (default: every webhook and amqp target of a domain with several)",
    )
    .option('--count <n>', 'how many', parsePositiveInt, 50)
    .option('--json', 'machine-readable output')
    .action(async (options: { domain: string; target?: string; count: number; json?: boolean }, command: Command) => {
      await withContext(command, async (context) => {
        const db = context.database();
        const service = new DeadLetterService(
          new LiveConfig(context.config),
          await context.redis(),
          new MessagesRepository(db.db),
          new AuditRepository(db.db),
        );
        const targets = targetsToRead(context.config, options.domain, options.target);
        const letters = [];
        for (const target of targets) {
          const { entries } = await service.page(options.domain, {
            limit: options.count,
            ...(target ? { target } : {}),
          });
          letters.push(...entries.map((entry) => ({ ...entry, ...(target ? { target } : {}) })));
        }
        const where = `${options.domain}${targets[0] ? ` (target${targets.length > 1 ? 's' : ''} ${targets.join(', ')})` : ''}`;
        if (options.json) process.stdout.write(`${JSON.stringify(letters, null, 2)}\n`);
        else if (letters.length === 0) process.stdout.write(`no dead letters in ${where}\n`);
        else
          for (const l of letters)
            process.stdout.write(
              `${l.dead_at}  ${l.message_id}  ${l.target ? `target=${l.target}  ` : ''}attempts=${l.attempts}  ${l.last_error}\n`,
            );
      });
    });

  group
    .command('redrive')
    .description('Give dead-lettered messages a fresh set of delivery attempts (audited)')
    .requiredOption('--domain <name>', 'domain')
    .option(
      '--target <name>',
      "one of the domain's targets (default: every webhook and amqp target of a domain with several)",
    )
    .option('--message <id...>', 'message ids to redrive')
    // Both given, --all redrove every dead letter of the domain where a few were named.
    .addOption(new Option('--all', 'redrive every dead letter of the domain').conflicts('message'))
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
          const targets = targetsToRead(context.config, options.domain, options.target);
          let requeued = 0;
          let removed = 0;
          for (const target of targets) {
            try {
              const result = await service.redrive(
                options.domain,
                options.all ? 'all' : options.message!,
                'cli',
                undefined,
                target,
              );
              requeued += result.requeued;
              removed += result.removed;
            } catch (error) {
              // Asked for by id across several targets: each holds only its own.
              if (!(targets.length > 1 && error instanceof BrokerError && error.code === 'NOT_FOUND')) throw error;
            }
          }
          if (!options.all && removed === 0) throw new BrokerError('NOT_FOUND', 'No such dead letter in this domain');
          process.stdout.write(
            `requeued ${requeued} message(s), removed ${removed} dead-letter entr${removed === 1 ? 'y' : 'ies'}${targets[0] ? ` (target${targets.length > 1 ? 's' : ''} ${targets.join(', ')})` : ''}\n`,
          );
        });
      },
    );
}

/**
 * The targets whose dead letters a command reads: the one named; else, for a domain with
 * several targets, each that delivers by attempts (webhook, amqp) — its default target is
 * often a store archive, which never has any; else the domain's only target (undefined).
 */
function targetsToRead(config: Readonly<BrokerConfig>, domain: string, target?: string): Array<string | undefined> {
  if (target) return [target];
  const found = config.domains.find((d) => d.name === domain);
  if (!found || found.targets.length <= 1) return [undefined];
  const delivering = found.targets.filter((t) => t.type !== 'store').map((t) => t.name);
  return delivering.length > 0 ? delivering : [undefined];
}
