/**
 * `mb crl show|rebuild`: the revocation list the brokers enforce. `rebuild` re-signs it
 * now and announces it to every running broker — also the way to re-send a revocation
 * that could not be announced while Redis was down.
 */
import type { Command } from 'commander';
import { commandGroup, EXIT_NOT_ANNOUNCED, printJson, runCommand } from './cli-support.js';

export function registerCrlCommands(program: Command): void {
  const crl = commandGroup(program, 'crl').description('The certificate revocation list');

  crl
    .command('show')
    .description('Show the current CRL: number, thisUpdate, nextUpdate and revoked serials')
    .option('--json', 'print it as JSON')
    .option('--pem', 'print the PEM itself')
    .action((options: { json?: boolean; pem?: boolean }, command: Command) =>
      runCommand(command, async (ctx) => {
        const { store, authority } = await ctx.ca();
        const current = authority.currentCrl();
        if (options.pem) return void process.stdout.write(current.pem);
        const { pem: _pem, ...info } = current;
        if (options.json) return printJson({ ...info, path: store.paths.crl });
        process.stdout.write(
          [
            `CRL #${info.crl_number}  ${store.paths.crl}`,
            `  this update  ${info.this_update}`,
            `  next update  ${info.next_update}`,
            `  revoked      ${info.revoked_serials.length}`,
            ...info.revoked_serials.map((serial) => `    ${serial}`),
            '',
          ].join('\n'),
        );
      }),
    );

  crl
    .command('rebuild')
    .description('Re-sign the CRL from the registry now and announce it to every running broker')
    .option('--json', "print the new CRL's details as JSON")
    .action((options: { json?: boolean }, command: Command) =>
      runCommand(command, async (ctx) => {
        const { authority } = await ctx.ca();
        const { info, announced } = await authority.crl.rebuild({ actor: ctx.actor, kind: 'crl', audit: true });
        if (options.json) printJson({ ...info, announced });
        else
          process.stdout.write(
            `CRL #${info.crl_number} signed (${info.revoked_serials.length} revoked), next update ${info.next_update}${announced ? ', announced' : ''}\n`,
          );
        if (!announced) {
          process.stderr.write(
            'mb: WARNING: the running brokers could not be told (Redis unreachable); they pick the CRL up from Redis or crl.pem later\n',
          );
          return EXIT_NOT_ANNOUNCED;
        }
      }),
    );
}
