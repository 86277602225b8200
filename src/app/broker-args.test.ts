import { describe, expect, it } from 'vitest';
import { type ArgsIo, BROKER_USAGE, brokerArgsOrExit, parseBrokerArgs } from './broker-args.js';

describe('parseBrokerArgs', () => {
  it('runs with no arguments (the config is then found as before: MB_CONFIG, ./config.yaml)', () => {
    expect(parseBrokerArgs([])).toEqual({ action: 'run', configFile: undefined });
  });

  it.each([[['--config', 'a.yaml']], [['--config=a.yaml']], [['-c', 'a.yaml']]])(
    'takes the config file from %j',
    (argv) => {
      expect(parseBrokerArgs(argv)).toEqual({ action: 'run', configFile: 'a.yaml' });
    },
  );

  it.each([[['--help']], [['-h']], [['--config', 'a.yaml', '--help']]])('asks for help with %j', (argv) => {
    expect(parseBrokerArgs(argv)).toEqual({ action: 'help' });
  });

  it.each([[['--version']], [['-v']]])('asks for the version with %j', (argv) => {
    expect(parseBrokerArgs(argv)).toEqual({ action: 'version' });
  });

  it.each([
    [['--bogus'], /bogus/],
    [['--config'], /config/],
    [['--config='], /needs a file name/],
    [['start'], /unexpected argument 'start'/],
    [['--help=yes'], /help/],
  ])('refuses %j', (argv, message) => {
    const args = parseBrokerArgs(argv);
    expect(args.action).toBe('usage-error');
    expect(args.action === 'usage-error' && args.message).toMatch(message);
  });
});

describe('brokerArgsOrExit', () => {
  class Exit extends Error {
    constructor(readonly code: number) {
      super(`exit ${code}`);
    }
  }
  function run(argv: string[]) {
    const out: string[] = [];
    const err: string[] = [];
    const io: ArgsIo = {
      stdout: (t) => out.push(t),
      stderr: (t) => err.push(t),
      exit: (code) => {
        throw new Exit(code);
      },
    };
    try {
      return { result: brokerArgsOrExit(argv, '9.9.9', io), code: undefined, out: out.join(''), err: err.join('') };
    } catch (error) {
      if (!(error instanceof Exit)) throw error;
      return { result: undefined, code: error.code, out: out.join(''), err: err.join('') };
    }
  }

  it('prints the usage on stdout and exits 0 for --help', () => {
    expect(run(['--help'])).toMatchObject({ code: 0, out: BROKER_USAGE, err: '' });
  });

  it('prints the version and exits 0 for --version', () => {
    expect(run(['--version'])).toMatchObject({ code: 0, out: '9.9.9\n' });
  });

  it('prints the error and the usage on stderr and exits 2 for an unknown flag', () => {
    const { code, out, err } = run(['--port', '1']);
    expect(code).toBe(2);
    expect(out).toBe('');
    expect(err).toContain(
      "unknown option '--port' (settings go in the config file or MB_* variables; mb has the operator commands)",
    );
    // Not Node's advice to pass it as a positional after '--': this entry takes none.
    expect(err).not.toContain('positional');
    expect(err).toContain('Usage: node dist/supervisor.js');
  });

  it('returns the config file otherwise', () => {
    expect(run(['--config', '/etc/mb.yaml']).result).toEqual({ configFile: '/etc/mb.yaml' });
  });
});
