/**
 * The main thread's heap, bounded like the actors' (`actors.young_generation_mb`,
 * `actors.old_generation_mb`), and V8's helper threads for every isolate (`actors.gc_threads`).
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
 *
 * V8's helper threads (node's `--v8-pool-size`, 4 by default on any host) serve every
 * isolate of the process: the main thread's and the four actors'. They run concurrent
 * marking and parallel scavenges. On a two-core host four of them marking one actor's old
 * generation took both cores for 20–50 ms (`perf sched timehist`), and every request in
 * flight — the front, the ingest actor and Redis all waiting for a core — stalled together.
 * By default there are no more helpers than cores (a one-core container gets one, not four);
 * fewer still is the operator's trade: on two cores one helper cut the store path's p99 by
 * 15–37 % but let the webhook path's peak RSS grow by 25–40 MB (docs/performance.md).
 */
import { availableParallelism } from 'node:os';

export interface MainProcessLimits {
  youngGenerationMb: number;
  oldGenerationMb: number;
  /** V8's helper threads; 0 = as many as the host has cores, at most 4. */
  gcThreads: number;
}

/** `actors.gc_threads` as the process runs it: the configured count, or the host's cores up to Node's 4. */
export function gcThreadsFor(configured: number, cores = availableParallelism()): number {
  return configured > 0 ? configured : Math.min(4, Math.max(1, cores));
}

/** V8's young generation is about three semi-spaces (two for the scavenger, one for new large objects). */
export function semiSpaceMbFor(youngGenerationMb: number): number {
  return Math.max(1, Math.round(youngGenerationMb / 3));
}

/** The node arguments to restart with, or undefined when nothing needs to change. */
export function boundedHeapArgs(
  limits: MainProcessLimits,
  execArgv: readonly string[],
  nodeOptions: string | undefined,
): string[] | undefined {
  const given = [...execArgv, ...(nodeOptions ?? '').split(/\s+/)];
  const unless = (flag: string, value: number) =>
    value > 0 && !given.some((arg) => arg.startsWith(flag)) ? [`${flag}=${value}`] : [];
  const added = [
    ...unless('--max-semi-space-size', limits.youngGenerationMb > 0 ? semiSpaceMbFor(limits.youngGenerationMb) : 0),
    ...unless('--max-old-space-size', limits.oldGenerationMb),
    ...unless('--v8-pool-size', gcThreadsFor(limits.gcThreads)),
  ];
  return added.length > 0 ? [...added, ...execArgv] : undefined;
}

/** Replaces this process with itself under the bounds (returns only when it does not need to, or cannot). */
export function reexecWithBoundedHeap(limits: MainProcessLimits): void {
  const args = boundedHeapArgs(limits, process.execArgv, process.env.NODE_OPTIONS);
  // process.execve: Node ≥ 22.15 / 23.11, POSIX only; without it the broker runs with V8's default.
  if (!args || typeof process.execve !== 'function' || process.platform === 'win32') return;
  process.execve(process.execPath, [process.execPath, ...args, ...process.argv.slice(1)], process.env);
}
