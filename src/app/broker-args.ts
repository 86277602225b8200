/**
 * The broker's own command line, `node dist/supervisor.js [--config FILE]`: parsed
 * strictly, so that a typo or `--help` never starts a real broker against the default
 * Redis and database. Operator commands are `mb` (src/cli.ts); this entry only runs.
 */
import { parseArgs } from 'node:util';

export const BROKER_USAGE = `Usage: node dist/supervisor.js [--config FILE]

Runs the message broker in the foreground until SIGTERM or SIGINT (SIGHUP re-reads the
config). Administration, certificates and checks are in the \`mb\` command.

Options:
  -c, --config FILE  config file (default: MB_CONFIG, then ./config.yaml if present;
                     MB_* variables override single keys)
  -h, --help         print this and exit
  -v, --version      print the version and exit

Check a config without starting anything: mb config check [--config FILE]
Exit codes: 0 stopped cleanly, 1 failed, 2 bad arguments, 78 invalid config.
`;

export type BrokerArgs =
  | { action: 'run'; configFile: string | undefined }
  | { action: 'help' }
  | { action: 'version' }
  | { action: 'usage-error'; message: string };

/** `argv` without the node binary and script (`process.argv.slice(2)`). Never throws. */
export function parseBrokerArgs(argv: readonly string[]): BrokerArgs {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    // Node's text for an unknown option goes on about passing it as a positional after
    // '--', which this entry refuses anyway: the option alone, and what there is instead.
    const unknown = /^Unknown option '([^']*)'/.exec((error as Error).message)?.[1];
    if (unknown !== undefined)
      return {
        action: 'usage-error',
        message: `unknown option '${unknown}' (settings go in the config file or MB_* variables; mb has the operator commands)`,
      };
    return { action: 'usage-error', message: (error as Error).message };
  }
  const { values, positionals } = parsed;
  if (values.help) return { action: 'help' };
  if (values.version) return { action: 'version' };
  if (positionals.length > 0) return { action: 'usage-error', message: `unexpected argument '${positionals[0]}'` };
  if (values.config === '') return { action: 'usage-error', message: '--config needs a file name' };
  return { action: 'run', configFile: values.config };
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
    },
  });
}

export interface ArgsIo {
  stdout(text: string): void;
  stderr(text: string): void;
  exit(code: number): never;
}

const processIo: ArgsIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  exit: (code) => process.exit(code),
};

/**
 * For `main()`: answers `--help` / `--version` (exit 0) and bad arguments (usage on
 * stderr, exit 2), and returns the config file to run with otherwise.
 */
export function brokerArgsOrExit(
  argv: readonly string[],
  version: string,
  io: ArgsIo = processIo,
): { configFile: string | undefined } {
  const args = parseBrokerArgs(argv);
  switch (args.action) {
    case 'run':
      return { configFile: args.configFile };
    case 'help':
      io.stdout(BROKER_USAGE);
      return io.exit(0);
    case 'version':
      io.stdout(`${version}\n`);
      return io.exit(0);
    case 'usage-error':
      io.stderr(`supervisor: ${args.message}\n\n${BROKER_USAGE}`);
      return io.exit(2);
  }
}
