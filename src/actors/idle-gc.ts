/**
 * One full garbage collection when an actor has gone quiet with garbage on its heap.
 *
 * V8 collects when allocation fills a space; an actor that goes quiet allocates next to
 * nothing, so what its last burst left — the CA actor's start-up (node-forge generating
 * and signing keys), a certificate issued from the portal, a backlog the delivery actor
 * worked off — stays on its heap, and in the broker's RSS, for as long as it stays quiet.
 * Measured on an idle broker (bench/idle-memory.ts): the CA actor's heap 40 → 22 MB, the
 * broker's RSS 251–255 → 236 MB.
 *
 * The check is cheap and runs on an unref'd timer: it collects only when the thread used
 * less than `idleCpuShare` of the last interval (so never on a busy path, where V8's own
 * scavenges already run) and its heap grew by `growthBytes` since the last collection.
 */
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Logger } from '../logger.js';

export interface IdleGcOptions {
  intervalMs: number;
  /** Thread CPU time ÷ wall time over an interval below which the thread counts as idle. */
  idleCpuShare: number;
  /** Heap growth (committed bytes) since the last collection that makes one worth it. */
  growthBytes: number;
}

export const IDLE_GC_DEFAULTS: IdleGcOptions = { intervalMs: 10_000, idleCpuShare: 0.02, growthBytes: 8 << 20 };

export interface IdleGcState {
  /** CPU share of the thread over the last interval. */
  busyShare: number;
  /** V8's committed heap now. */
  heapBytes: number;
  /** V8's committed heap after the last collection (0 before the first: start-up's garbage counts). */
  baselineBytes: number;
}

export function shouldCollect(state: IdleGcState, options: IdleGcOptions): boolean {
  return state.busyShare < options.idleCpuShare && state.heapBytes >= state.baselineBytes + options.growthBytes;
}

/**
 * V8's `gc()`, which Node exposes only with --expose-gc. The flag is set for as long as
 * it takes to make one context that has the function, then cleared, so no other
 * context (or worker started later) gets a global `gc`.
 */
function exposedGc(): () => void {
  setFlagsFromString('--expose-gc');
  try {
    return runInNewContext('gc') as () => void;
  } finally {
    setFlagsFromString('--no-expose-gc');
  }
}

/** Starts the check on this thread; returns its stop. */
export function startIdleGc(logger: Logger, options: IdleGcOptions = IDLE_GC_DEFAULTS): () => void {
  const gc = exposedGc();
  let cpu = process.threadCpuUsage();
  let baselineBytes = 0;
  const timer = setInterval(() => {
    const used = process.threadCpuUsage(cpu);
    cpu = process.threadCpuUsage();
    const busyShare = (used.user + used.system) / 1000 / options.intervalMs;
    const heapBytes = getHeapStatistics().total_heap_size;
    if (!shouldCollect({ busyShare, heapBytes, baselineBytes }, options)) return;
    gc();
    baselineBytes = getHeapStatistics().total_heap_size;
    logger.debug({ heap_mb_before: mb(heapBytes), heap_mb_after: mb(baselineBytes) }, 'idle: garbage collected');
    // The collection's own CPU does not make the next interval look busy.
    cpu = process.threadCpuUsage();
  }, options.intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

const mb = (bytes: number) => Math.round(bytes / 1e5) / 10;
