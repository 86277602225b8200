/**
 * The main thread's heap, bounded like the actors' (`actors.young_generation_mb`,
 * `actors.old_generation_mb`).
 *
 * V8 sizes the new space once, when the isolate starts: on Node 24 and a host with plenty
 * of RAM the main isolate's semi-spaces may grow to 64 MB each (a 128 MB new space), which
 * under load is over 100 MB of the broker's RSS for no measurable speed. And V8 lets an old
 * generation grow to up to 4× what survived its last full GC when the heap limit is large
 * (it is ≈ 4 GB on a 24 GB host); with a limit of 256 MB or less it grows by 1.3× at most
 * (V8's heap controller): 40–70 MB less peak RSS across the five isolates in the bench,
 * again for no measurable CPU (docs/performance-history.md).
 *
 * Workers take both limits as `resourceLimits`; the main isolate only as command-line
 * flags, which cannot be changed once it runs (`v8.setFlagsFromString` is too late). So the
 * supervisor replaces itself, before it opens anything, with the same program plus
 * `--max-semi-space-size` and `--max-old-space-size`: `execve` keeps the pid, stdio and
 * environment, so systemd, Docker and a shell see one process. An operator's own flag
 * (node flag or NODE_OPTIONS) wins, each on its own.
 */

/** V8's young generation is about three semi-spaces (two for the scavenger, one for new large objects). */
export function semiSpaceMbFor(youngGenerationMb: number): number {
  return Math.max(1, Math.round(youngGenerationMb / 3));
}

/** The node arguments to restart with, or undefined when nothing needs to change. */
export function boundedHeapArgs(
  limits: { youngGenerationMb: number; oldGenerationMb: number },
  execArgv: readonly string[],
  nodeOptions: string | undefined,
): string[] | undefined {
  const given = [...execArgv, ...(nodeOptions ?? '').split(/\s+/)];
  const unless = (flag: string, value: number) =>
    value > 0 && !given.some((arg) => arg.startsWith(flag)) ? [`${flag}=${value}`] : [];
  const added = [
    ...unless('--max-semi-space-size', limits.youngGenerationMb > 0 ? semiSpaceMbFor(limits.youngGenerationMb) : 0),
    ...unless('--max-old-space-size', limits.oldGenerationMb),
  ];
  return added.length > 0 ? [...added, ...execArgv] : undefined;
}

/** Replaces this process with itself under the bounds (returns only when it does not need to, or cannot). */
export function reexecWithBoundedHeap(limits: { youngGenerationMb: number; oldGenerationMb: number }): void {
  const args = boundedHeapArgs(limits, process.execArgv, process.env.NODE_OPTIONS);
  // process.execve: Node ≥ 22.15 / 23.11, POSIX only; without it the broker runs with V8's default.
  if (!args || typeof process.execve !== 'function' || process.platform === 'win32') return;
  process.execve(process.execPath, [process.execPath, ...args, ...process.argv.slice(1)], process.env);
}
