/**
 * Usage errors of `mb` commands, found before anything is opened: the text an operator
 * reads and that the command does nothing.
 */
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { registerDeadLetterCommands } from './dead-letter.command.js';
import { registerKeysCommands } from './keys.command.js';
import { registerPurgeCommands } from './purge.command.js';
import { registerTestClientCommands } from './test-client.command.js';
import { withoutHelpForUnknownCommand } from './cli-support.js';

/** Parses `args` with `mb`'s commands; resolves to what commander wrote on stderr and its exit code. */
async function usageError(args: string[]): Promise<{ stderr: string; exitCode: number }> {
  const program = new Command('mb').exitOverride();
  let stderr = '';
  program.configureOutput({ writeErr: (text) => void (stderr += text), writeOut: () => undefined });
  for (const register of [
    registerDeadLetterCommands,
    registerKeysCommands,
    registerPurgeCommands,
    registerTestClientCommands,
  ])
    register(program);
  for (const command of program.commands) {
    command.exitOverride().configureOutput(program.configureOutput());
    for (const sub of command.commands) sub.exitOverride().configureOutput(program.configureOutput());
  }
  try {
    await program.parseAsync(args, { from: 'user' });
  } catch (error) {
    return { stderr, exitCode: (error as { exitCode: number }).exitCode };
  }
  throw new Error(`mb ${args.join(' ')} was accepted`);
}

describe('mb usage errors', () => {
  it('refuses dead-letter redrive with both --all and --message', async () => {
    const { stderr, exitCode } = await usageError([
      'dead-letter',
      'redrive',
      '--domain',
      'default',
      '--all',
      '--message',
      '01a2534d-7f4e-7a32-9716-97d8613dc98d',
    ]);
    expect(stderr).toContain("option '--all' cannot be used with option '--message <id...>'");
    expect(exitCode).toBe(1);
  });

  it('refuses a rate that is not a number', async () => {
    const { stderr, exitCode } = await usageError(['send', '--rate', 'abc']);
    expect(stderr).toMatch(/option '--rate <per-second>' argument 'abc' is invalid\. expected a number, 0 or more/);
    expect(exitCode).toBe(1);
    await expect(usageError(['send', '--rate', '-1'])).resolves.toMatchObject({ exitCode: 1 });
  });

  it('refuses --metadata that is not a JSON object, naming the option', async () => {
    for (const bad of ['{bad', '[1]', '42']) {
      const { stderr, exitCode } = await usageError(['send', '--metadata', bad]);
      expect(stderr).toContain(`option '--metadata <json>' argument '${bad}' is invalid. expected a JSON object`);
      expect(exitCode).toBe(1);
    }
  });

  it('refuses a dead-letter count that is not a positive whole number', async () => {
    // Passed on as given, `abc` surfaced as Redis' own error, `-1` as a TypeError, and `0`
    // printed "no dead letters" for a domain that had some.
    for (const count of ['abc', '0', '-1', '2.5']) {
      const { stderr, exitCode } = await usageError(['dead-letter', 'list', '--domain', 'default', '--count', count]);
      expect(stderr).toContain(`option '--count <n>' argument '${count}' is invalid. expected a positive whole number`);
      expect(exitCode).toBe(1);
    }
  });

  it('refuses batch sizes and waits that are not numbers, before anything is opened', async () => {
    for (const [args, option, expected] of [
      [['keys', 'reencrypt', '--batch', 'abc'], "'--batch <n>' argument 'abc'", 'expected a positive whole number'],
      [['keys', 'rotate', '--batch', '0'], "'--batch <n>' argument '0'", 'expected a positive whole number'],
      [['keys', 'rotate', '--wait-ms', 'soon'], "'--wait-ms <ms>' argument 'soon'", 'expected a number, 0 or more'],
      [['keys', 'retire', '--grace-ms', 'x'], "'--grace-ms <ms>' argument 'x'", 'expected a number, 0 or more'],
      [['send', '--timeout-ms', 'abc'], "'--timeout-ms <ms>' argument 'abc'", 'expected a positive whole number'],
    ] as const) {
      const { stderr, exitCode } = await usageError([...args]);
      expect(stderr).toContain(`option ${option} is invalid. ${expected}`);
      expect(exitCode).toBe(1);
    }
  });

  it("refuses a group's unknown command, --help or not, with the one probably meant", async () => {
    for (const args of [
      ['dead-letter', 'retry', '--help'],
      ['dead-letter', 'retry', '--domain', 'default'],
    ]) {
      const { stderr, exitCode } = await usageError(args);
      expect(stderr).toContain("unknown command 'retry' for mb dead-letter; its commands: list, redrive");
      expect(exitCode).toBe(1);
    }
    expect((await usageError(['dead-letter', 'lst'])).stderr).toContain('(did you mean list?)');
  });

  it('says in a sentence what is missing', async () => {
    expect((await usageError(['dead-letter', 'redrive', '--domain', 'default'])).stderr).toContain(
      'Give --message ID… or --all',
    );
    expect((await usageError(['purge'])).stderr).toContain('Give either --client NAME or --expired');
  });
});

describe('withoutHelpForUnknownCommand', () => {
  const program = new Command('mb');
  registerTestClientCommands(program);
  const argv = (...args: string[]) => ['node', 'mb', ...args];

  it('drops --help after a first word that names no command, so the parse refuses it', () => {
    expect(withoutHelpForUnknownCommand(program, argv('test-client', '--help'))).toEqual(argv('test-client'));
    expect(withoutHelpForUnknownCommand(program, argv('bogus', '-h', 'x'))).toEqual(argv('bogus', 'x'));
  });

  it('leaves known commands, options first and help alone', () => {
    for (const args of [
      argv('send', '--help'),
      argv('--help'),
      argv('--config', 'c.yaml', 'send'),
      argv('help', 'send'),
    ])
      expect(withoutHelpForUnknownCommand(program, args)).toEqual(args);
  });
});
