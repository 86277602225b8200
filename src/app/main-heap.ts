/**
 * The main thread's young generation, bounded like the actors' (`actors.young_generation_mb`).
 *
 * V8 sizes the new space once, when the isolate starts: on Node 24 and a host with plenty
 * of RAM the main isolate's semi-spaces may grow to 64 MB each (a 128 MB new space), which
 * under load is over 100 MB of the broker's RSS for no measurable speed. Workers take the
 * limit as `resourceLimits`; the main isolate only as a command-line flag, which cannot be
 * changed once it runs (`v8.setFlagsFromString` is too late). So the supervisor replaces
 * itself, before it opens anything, with the same program plus `--max-semi-space-size`:
 * `execve` keeps the pid, stdio and environment, so systemd, Docker and a shell see one
 * process. An operator's own `--max-semi-space-size` (node flag or NODE_OPTIONS) wins.
 */

/** V8's young generation is about three semi-spaces (two for the scavenger, one for new large objects). */
export function semiSpaceMbFor(youngGenerationMb: number): number {
  return Math.max(1, Math.round(youngGenerationMb / 3));
}

/** The node arguments to restart with, or undefined when nothing needs to change. */
export function boundedHeapArgs(
  youngGenerationMb: number,
  execArgv: readonly string[],
  nodeOptions: string | undefined,
): string[] | undefined {
  if (youngGenerationMb <= 0) return undefined;
  const given = [...execArgv, ...(nodeOptions ?? '').split(/\s+/)];
  if (given.some((arg) => arg.startsWith('--max-semi-space-size'))) return undefined;
  return [`--max-semi-space-size=${semiSpaceMbFor(youngGenerationMb)}`, ...execArgv];
}

/** Replaces this process with itself under the bound (returns only when it does not need to, or cannot). */
export function reexecWithBoundedHeap(youngGenerationMb: number): void {
  const args = boundedHeapArgs(youngGenerationMb, process.execArgv, process.env.NODE_OPTIONS);
  // process.execve: Node ≥ 22.15 / 23.11, POSIX only; without it the broker runs with V8's default.
  if (!args || typeof process.execve !== 'function' || process.platform === 'win32') return;
  process.execve(process.execPath, [process.execPath, ...args, ...process.argv.slice(1)], process.env);
}
