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
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

export interface MainProcessLimits {
  youngGenerationMb: number;
  oldGenerationMb: number;
  /** V8's helper threads; 0 = as many as the host has cores, at most 4. */
  gcThreads: number;
  /** `actors.batch_scheduling`: every thread under SCHED_BATCH (Linux, through chrt). */
  batchScheduling?: boolean;
}

/** Linux's SCHED_BATCH (sched.h). */
const SCHED_BATCH = 3;
/** util-linux's chrt: on every Debian and Ubuntu (util-linux is essential), slim images included. */
const CHRT = ['/usr/bin/chrt', '/bin/chrt'];

/** This process's scheduling policy (`/proc/self/stat` field 41), or undefined off Linux. */
export function schedulingPolicy(stat = readProcStat()): number | undefined {
  if (stat === undefined) return undefined;
  // Fields after the command name, which is in parentheses and may hold spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const policy = Number(fields[41 - 3]);
  return Number.isInteger(policy) ? policy : undefined;
}

function readProcStat(): string | undefined {
  try {
    return readFileSync('/proc/self/stat', 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * The command that starts node under SCHED_BATCH, when asked for, on Linux, not so already,
 * and chrt is there; else undefined.
 *
 * Why: on a two-core host the broker's threads hand work to each other several times per
 * request (front → ingest actor → Redis → ingest actor → front), and under the default
 * policy a woken thread preempts the one that woke it: the front lost its core at each
 * hand-off, in the middle of its event-loop turn, and a turn's requests reached the actor
 * in smaller batches. Under SCHED_BATCH a woken thread waits until the waker blocks (or its
 * slice ends), so each thread finishes its turn. Threads inherit the policy, actors too.
 */
export function batchSchedulingPrefix(asked: boolean, policy = schedulingPolicy()): string[] | undefined {
  if (!asked || process.platform !== 'linux' || policy === undefined || policy === SCHED_BATCH) return undefined;
  // Tried once: a restart that did not take (policy unchanged) must not restart again.
  if (process.env[TRIED] === '1') return undefined;
  const chrt = CHRT.find((path) => existsSync(path));
  if (!chrt) return undefined;
  // A sandbox may refuse sched_setscheduler (a seccomp profile): chrt would then fail and
  // take the broker with it. Tried on a throwaway child first.
  try {
    execFileSync(chrt, ['--batch', '0', 'true'], { stdio: 'ignore', timeout: 5000 });
  } catch {
    return undefined;
  }
  return [chrt, '--batch', '0'];
}

/** Set for the restart through chrt. */
const TRIED = 'MESSAGE_BROKER_SCHED_BATCH_TRIED'; // not MB_…: those are config keys

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
  const batch = batchSchedulingPrefix(limits.batchScheduling === true);
  // process.execve: Node ≥ 22.15 / 23.11, POSIX only; without it the broker runs with V8's default.
  if ((!args && !batch) || typeof process.execve !== 'function' || process.platform === 'win32') return;
  const node = [process.execPath, ...(args ?? process.execArgv), ...process.argv.slice(1)];
  // chrt sets the policy and execs node: still one process, the same pid.
  if (batch) process.execve(batch[0]!, [...batch, ...node], { ...process.env, [TRIED]: '1' });
  else process.execve(process.execPath, node, process.env);
}
