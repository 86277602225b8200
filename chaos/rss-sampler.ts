/**
 * The resident set size of a broker process over a chaos run, read from /proc (Linux) once
 * a second: its peak is held against the target of docs/performance.md.
 */
import { readFileSync } from 'node:fs';

/** docs/performance.md: "broker RSS ≤ 350 MB" (the whole process: main thread and actors). */
export const BROKER_RSS_TARGET_MB = 350;

export class RssSampler {
  private timer: NodeJS.Timeout | undefined;
  peakMb = 0;
  samples = 0;

  constructor(
    private readonly pid: () => number | undefined,
    private readonly everyMs = 1000,
  ) {}

  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.everyMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.sample();
  }

  /** The current RSS and the peak so far, for a progress note (`label 312/340 MB`). */
  mark(label: string): string {
    this.sample();
    return `${label} ${this.lastMb.toFixed(0)}/${this.peakMb.toFixed(0)} MB`;
  }

  private lastMb = 0;

  private sample(): void {
    const mb = rssMbOf(this.pid());
    if (mb === undefined) return;
    this.samples++;
    this.lastMb = mb;
    this.peakMb = Math.max(this.peakMb, mb);
  }
}

/** VmRSS of a live process, in MB; undefined when it is gone or /proc is not there. */
export function rssMbOf(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const kb = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb === undefined ? undefined : Number(kb) / 1024;
  } catch {
    return undefined;
  }
}
