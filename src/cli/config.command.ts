/**
 * `mb config check [--config FILE] [--json]`: validates a config as the broker would
 * (the one loader, src/config/), then the files it points at (src/config/config-check.ts),
 * without starting anything or connecting to Redis or the database.
 * Exit codes: 0 usable, 1 a file or directory is not, 78 the config itself is invalid.
 */
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { checkConfigFiles, type Finding } from '../config/config-check.js';
import { ConfigError, loadConfig, type BrokerConfig } from '../config/config.js';
import { commandGroup, printJson, readConfig } from './cli-support.js';

const MARK: Record<Finding['level'], string> = {
  ok: 'ok     ',
  note: 'note   ',
  warning: 'WARNING',
  problem: 'PROBLEM',
};

export function registerConfigCommands(program: Command): void {
  const config = commandGroup(program, 'config').description('The broker configuration');

  config
    .command('check')
    .description(
      'Validate the config and the files it names (CA, server certificate, keys, log and data directories) without starting or connecting to anything; exit 0 usable, 1 not, 78 invalid config',
    )
    .option('--json', 'print the findings as JSON')
    .action((options: { json?: boolean }, command: Command) => {
      const file = command.optsWithGlobals<{ config?: string }>().config ?? process.env.MB_CONFIG;
      const source = file ?? (existsSync('config.yaml') ? 'config.yaml' : 'the defaults (no config file)');
      // Exits 78 with `mb: config error: <key> …` when the config is invalid; with --json
      // the verdict is on stdout too, where a script piping it into a JSON reader looks.
      const loaded = options.json ? readConfigOrJson(file, source) : readConfig(command);
      const findings = checkConfigFiles(loaded);
      const problems = findings.filter((f) => f.level === 'problem').length;
      if (options.json) printJson({ ok: problems === 0, config: source, findings });
      else {
        const width = Math.max(...findings.map((f) => f.key.length));
        for (const f of findings)
          process.stdout.write(`${MARK[f.level]} ${f.key.padEnd(width)}  ${f.path ? `${f.path}: ` : ''}${f.message}\n`);
        const notes = findings.filter((f) => f.level === 'note').length;
        const warnings = findings.filter((f) => f.level === 'warning').length;
        if (problems === 0)
          process.stdout.write(
            `OK: ${source} is valid (${loaded.domains.length} domain(s), listens on ${loaded.server.host}:${loaded.server.port}); ${notes} note(s)${warnings > 0 ? `, ${warnings} warning(s)` : ''}\n`,
          );
        else process.stderr.write(`mb: FAILED: ${problems} problem(s) in what ${source} points at\n`);
      }
      process.exitCode = problems === 0 ? 0 : 1;
    });
}

/** readConfig's twin for --json: an invalid config is `{ok: false, config, error}` on stdout as well. */
function readConfigOrJson(file: string | undefined, source: string): Readonly<BrokerConfig> {
  try {
    return loadConfig(file === undefined ? {} : { file });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    printJson({ ok: false, config: source, error: error.message, findings: [] });
    process.stderr.write(`mb: config error: ${error.message}\n`);
    process.exit(78);
  }
}
