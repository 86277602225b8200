/**
 * The `mb` CLI as a real child process (`node dist/cli.js …`), the way an operator runs
 * it, against a test workspace's config. Asynchronous, so the test's own sockets keep
 * being served while the command runs.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './broker-harness.js';

export const CLI = join(ROOT, 'dist/cli.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function runCli(
  args: string[],
  options: {
    configPath?: string;
    cwd?: string;
    env?: Record<string, string>;
    executable?: string;
    input?: string;
    timeoutMs?: number;
  } = {},
): Promise<CliResult> {
  const argv = [...(options.configPath ? ['--config', options.configPath] : []), ...args];
  const [file, fileArgs] = options.executable ? [options.executable, argv] : [process.execPath, [CLI, ...argv]];
  return new Promise((resolve) => {
    const child = execFile(
      file,
      fileArgs,
      {
        cwd: options.cwd ?? ROOT,
        env: { ...process.env, ...options.env },
        // Key rotation re-encrypts every row: give it time, and room for its output.
        timeout: options.timeoutMs ?? 90_000,
        maxBuffer: 16 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    // What the command reads from stdin (a password); without it, stdin is closed at once.
    child.stdin?.end(options.input ?? '');
  });
}

/** Runs a command that must succeed and parses its `--json` output. */
export async function runCliJson<T>(args: string[], configPath: string): Promise<T> {
  const result = await runCli([...args, '--json'], { configPath });
  if (result.code !== 0) throw new Error(`mb ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}
