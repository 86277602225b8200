/**
 * The light half of the CLI's plumbing: config, output, argument helpers and the
 * command runner. What a command opens (database, Redis, the CA) is in `cli-context.ts`,
 * which loads node-forge and the CA only when a command uses them, so `mb … --help`
 * answers at once.
 */
import { accessSync, chmodSync, constants, mkdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { InvalidArgumentError, type Command } from 'commander';
import { ConfigError, loadConfig, type BrokerConfig } from '../config/config.js';
import { databaseErrorCode } from '../db/database.js';
import { BrokerError } from '../errors.js';
import { closestName } from '../util/closest-name.js';
import { openContext, type CliContext, type RunnerOptions } from './cli-context.js';

/** Exit codes: 0 done, 1 failed or not valid, 2 done but the running brokers were not told. */
export const EXIT_NOT_ANNOUNCED = 2;
const EXIT_CONFIG = 78;

export interface GlobalOptions {
  config?: string;
  verbose?: boolean;
}

export function readConfig(command: Command): Readonly<BrokerConfig> {
  const options = command.optsWithGlobals<GlobalOptions>();
  try {
    return loadConfig(options.config === undefined ? {} : { file: options.config });
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`mb: config error: ${error.message}\n`);
      process.exit(EXIT_CONFIG);
    }
    throw error;
  }
}

/**
 * Runs a command body with an open context (closed after) and sets the exit code; reports
 * a failure itself (`mb: CODE: message`, exit 1; a bad config exits 78). `withContext` in
 * cli-context.ts leaves failures to the caller.
 */
export async function runCommand(
  command: Command,
  body: (ctx: CliContext) => Promise<number | void>,
  options: RunnerOptions = {},
): Promise<void> {
  let ctx: CliContext | undefined;
  let code = 1;
  try {
    ctx = openContext(readConfig(command), { verbose: command.optsWithGlobals<GlobalOptions>().verbose === true });
    // Before anything: a host whose keys or CA are not the installation's does nothing.
    if (options.verifySecrets !== false) await ctx.verifySecrets();
    code = (await body(ctx)) ?? 0;
  } catch (error) {
    reportFailure(error);
  } finally {
    await ctx?.close().catch(() => undefined);
  }
  process.exitCode = code;
}

/** `mb: CODE: message` on stderr and exit code 1. */
export function reportFailure(error: unknown): void {
  if (error instanceof Error && error.message.startsWith(FAILED_QUERY)) {
    process.stderr.write(`mb: ${failedQuery(error)}\n`);
    process.exitCode = 1;
    return;
  }
  const prefix = error instanceof BrokerError ? `${error.code}: ` : '';
  process.stderr.write(`mb: ${prefix}${error instanceof Error ? error.message : String(error)}${storageHint(error)}\n`);
  process.exitCode = 1;
}

/** drizzle's DrizzleQueryError: its message is the SQL and its parameters (ciphertext, hashes, audit details). */
const FAILED_QUERY = 'Failed query:';

/** A query that failed, by the driver's code in the cause chain, never by the query's text. */
function failedQuery(error: Error): string {
  const code = databaseErrorCode(error);
  // ECONNREFUSED, ETIMEDOUT…: the server is away, not the query wrong.
  const unreachable = code !== undefined && /^E[A-Z]+$/.test(code);
  return `a database query failed (${code ?? 'no error code'})${unreachable ? ': is the MySQL/MariaDB of database.url running and reachable?' : ''}`;
}

/**
 * "The database is unavailable" alone leaves an operator guessing which database and why:
 * the driver's code (ECONNREFUSED, ER_ACCESS_DENIED_ERROR…) and the setting to look at.
 */
function storageHint(error: unknown): string {
  if (!(error instanceof BrokerError) || error.code !== 'STORAGE_UNAVAILABLE') return '';
  const cause = (error.details as { cause?: unknown } | undefined)?.cause;
  return ` (${typeof cause === 'string' ? `${cause}: ` : ''}is the MySQL/MariaDB of database.url running and reachable?)`;
}

/** `name.domain`, or `name` with `--domain`, or `name` alone when only one domain is configured. */
export function resolveClient(
  config: Readonly<BrokerConfig>,
  nameOrCn: string,
  domainOption: string | undefined,
): { name: string; domain: string } {
  const dot = nameOrCn.indexOf('.');
  const name = dot < 0 ? nameOrCn : nameOrCn.slice(0, dot);
  const fromCn = dot < 0 ? undefined : nameOrCn.slice(dot + 1);
  if (fromCn !== undefined && domainOption !== undefined && fromCn !== domainOption) {
    throw new BrokerError('INVALID_PAYLOAD', `${nameOrCn} names domain ${fromCn} but --domain says ${domainOption}`);
  }
  const domain = fromCn ?? domainOption ?? (config.domains.length === 1 ? config.domains[0]!.name : undefined);
  if (domain === undefined)
    throw new BrokerError(
      'INVALID_PAYLOAD',
      `Several domains are configured: give --domain (one of ${config.domains.map((d) => d.name).join(', ')})`,
    );
  return { name, domain };
}

/** Writes a file with exactly `mode`, whatever the umask or an earlier file's mode. */
export function writeFileWithMode(path: string, content: string | Uint8Array, mode: number): void {
  writeFileSync(path, content, { mode });
  chmodSync(path, mode);
}

/** A client's domain must be in the config (the CA refuses it otherwise): checked before anything is written for it. */
export function requireConfiguredDomain(config: Readonly<BrokerConfig>, domain: string): void {
  if (!config.domains.some((d) => d.name === domain))
    throw new BrokerError('UNKNOWN_DOMAIN', `Domain ${domain} is not configured`);
}

/**
 * Creates `dir` (0700) if needed and fails now, not later, if it cannot be written.
 * Returns whether it made `dir`: a command that then fails removes it again (removeIfEmpty).
 */
export function ensurePrivateDir(dir: string): boolean {
  try {
    // Recursive mkdir answers the first directory it made, undefined when `dir` was there.
    const created = mkdirSync(dir, { recursive: true, mode: 0o700 }) !== undefined;
    accessSync(dir, constants.W_OK);
    return created;
  } catch (error) {
    throw new BrokerError(
      'BAD_REQUEST',
      `Cannot write to ${dir} (${(error as NodeJS.ErrnoException).code ?? String(error)})`,
    );
  }
}

/** Removes `dir` if nothing was written into it (never its contents). */
export function removeIfEmpty(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // Not empty, or already gone: either way, nothing of ours to clean up.
  }
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

// Control (Cc) and format (Cf) characters, lone surrogates too.
const UNPRINTABLE = /[\p{Cc}\p{Cf}\p{Cs}]/gu;

/**
 * A value as a terminal may show it: control and format characters written as escapes
 * (`\x1b`, `\u202e`). A stored email or client name is someone's text: raw, an ESC
 * drives the operator's terminal (colours, cursor, title) and a bidi override reorders
 * what they read; a tab would shift the columns.
 */
export function terminalSafe(value: string): string {
  return value.replace(UNPRINTABLE, (char) => {
    const code = char.codePointAt(0)!;
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/** Tab-separated rows, each cell terminal-safe. */
export function printTabbed(rows: string[][]): void {
  for (const row of rows) process.stdout.write(`${row.map(terminalSafe).join('\t')}\n`);
}

/** Left-aligned columns, two spaces apart; each cell terminal-safe. */
export function printTable(header: string[], unsafeRows: string[][]): void {
  const rows = unsafeRows.map((row) => row.map(terminalSafe));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  for (const row of [header, ...rows])
    process.stdout.write(
      `${row
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd()}\n`,
    );
}

/** An option parser for commander: a usage error, not a stack trace. */
export function parsePositiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive whole number');
  return n;
}

/** An option parser for commander: a number ≥ 0 (a rate; fractions allowed), a usage error otherwise. */
export function parseNonNegativeNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0)
    throw new InvalidArgumentError('expected a number, 0 or more');
  return n;
}

/**
 * A group of commands (`mb dead-letter …`) that refuses a subcommand it does not have,
 * with the one probably meant. Commander would print the group's help and exit 0 for
 * `mb dead-letter retry --help` (its help check comes before the command lookup), which
 * reads as if `retry` existed. Exit 1, "not valid" (2 means done but not announced).
 */
export function commandGroup(program: Command, name: string): Command {
  const group = program.command(name);
  program.hook('preSubcommand', (parent, chosen) => {
    if (chosen !== group) return;
    // The parent's args: the group's name, then what follows it (options last).
    const given = parent.args.slice(1).find((arg) => !arg.startsWith('-'));
    if (given === undefined || given === 'help') return;
    const known = group.commands.flatMap((c) => [c.name(), ...c.aliases()]);
    if (known.includes(given)) return;
    const near = closestName(given, known);
    group.error(
      `error: unknown command '${given}' for mb ${name}${near ? ` (did you mean ${near}?)` : ''}; its commands: ${known.join(', ')}`,
      { exitCode: 1, code: 'commander.unknownCommand' },
    );
  });
  return group;
}

/**
 * Commander answers `--help` before it looks the command up: `mb test-client --help`
 * printed the main help and exited 0, hiding the typo. For a first word that names no
 * command the help flag is dropped, so the parse refuses the command (with a suggestion).
 */
export function withoutHelpForUnknownCommand(root: Command, argv: string[]): string[] {
  const first = argv[2];
  if (first === undefined || first.startsWith('-') || first === 'help') return argv;
  if (root.commands.some((c) => c.name() === first || c.aliases().includes(first))) return argv;
  return argv.filter((arg, i) => i < 2 || (arg !== '--help' && arg !== '-h'));
}
