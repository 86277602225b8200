/**
 * `mb`, the operator's command line: `node dist/cli.js <group> <command> [options]`
 * (src/cli.ts checks the Node.js version, then loads this file).
 * Each command group lives in `src/cli/<group>.command.ts` and registers itself here.
 * Every command takes `--config FILE` like the broker and prints `--help`.
 */
import { Command } from 'commander';
import { reportFailure, withoutHelpForUnknownCommand } from './cli-support.js';
import { registerDeadLetterCommands } from './dead-letter.command.js';
import { registerKeysCommands } from './keys.command.js';
import { registerPurgeCommands } from './purge.command.js';
import { registerTestClientCommands } from './test-client.command.js';
import { registerBackupCommands } from './backup.command.js';
import { VERSION } from '../version.js';
import { registerUserCommands } from './user.command.js';
import { registerCaCommands } from './ca.command.js';
import { registerCertCommands } from './cert.command.js';
import { registerClientCommands } from './client.command.js';
import { registerCrlCommands } from './crl.command.js';
import { registerConfigCommands } from './config.command.js';

const program = new Command('mb')
  .description('Message broker administration: certificate authority, clients, users, operations')
  .version(VERSION)
  .option('--config <file>', 'config file (default: MB_CONFIG or ./config.yaml)')
  .option('--verbose', 'log what happens (to stderr)')
  .showHelpAfterError();

// Command groups register here, one line each.
registerDeadLetterCommands(program);
registerUserCommands(program);
registerCaCommands(program);
registerClientCommands(program);
registerCertCommands(program);
registerCrlCommands(program);
registerKeysCommands(program);
registerPurgeCommands(program);
registerTestClientCommands(program);
registerBackupCommands(program);
registerConfigCommands(program);

program.parseAsync(withoutHelpForUnknownCommand(program, process.argv)).catch((error: unknown) => {
  // The same `mb: CODE: message` as runCommand's: withContext's commands end up here.
  reportFailure(error);
  process.exit(1);
});
