/**
 * What the fan-out bench's subscriber threads (bench/events-subscriber-worker.ts) count, how
 * the sockets are shared out among them, what they and the bench's main thread
 * (bench/events-fanout.ts) say to each other, and how the main thread adds their counts up.
 */

export const TRACKED = ['queued', 'stored', 'delivered'] as const;

/** A client's certificate, key and CA: as PEM text or as file paths. */
export interface Bundle {
  cert: string;
  key: string;
  ca: string;
}

/** A histogram's counts, as posted between threads (the buckets' buffer transferred, not copied). */
export interface HistogramData {
  buckets: Uint32Array<ArrayBuffer>;
  count: number;
}

const BUCKETS = 120_001;

/** Latencies in whole milliseconds, counted in buckets: millions of receipts cost 480 KB. */
export class Histogram {
  private constructor(
    private readonly buckets: Uint32Array<ArrayBuffer>,
    public count: number,
  ) {}

  static empty(): Histogram {
    return new Histogram(new Uint32Array(BUCKETS), 0);
  }

  /** Takes posted counts over as they are (no copy). */
  static from(data: HistogramData): Histogram {
    return new Histogram(data.buckets, data.count);
  }

  add(ms: number): void {
    this.buckets[Math.max(0, Math.min(this.buckets.length - 1, Math.round(ms)))]!++;
    this.count++;
  }

  /** Adds another thread's counts, bucket by bucket. */
  merge(other: HistogramData): void {
    for (let ms = 0; ms < other.buckets.length; ms++) this.buckets[ms]! += other.buckets[ms]!;
    this.count += other.count;
  }

  /** The counts to post; once the buffer is transferred, this histogram is spent. */
  data(): HistogramData {
    return { buckets: this.buckets, count: this.count };
  }

  summary(): { count: number; p50: number; p99: number; max: number } {
    const at = (q: number) => {
      const rank = Math.ceil(q * this.count);
      let seen = 0;
      for (let ms = 0; ms < this.buckets.length; ms++) if ((seen += this.buckets[ms]!) >= rank) return ms;
      return 0;
    };
    let max = 0;
    for (let ms = this.buckets.length - 1; ms >= 0; ms--)
      if (this.buckets[ms]! > 0) {
        max = ms;
        break;
      }
    return { count: this.count, p50: at(0.5), p99: at(0.99), max };
  }
}

/** What the subscribers saw of one message: receipts per tracked type, `delivered` receipt times. */
export interface Seen {
  counts: [number, number, number];
  deliveredAt: number[];
}

/** A thread's event-loop delay in ms. */
export interface LoopDelay {
  p50: number;
  p99: number;
  max: number;
}

/** One thread's counts since its restart (`seen` since the sockets opened: accepted messages are looked up in it). */
export interface SubscriberReport {
  sockets: number;
  frames: number;
  closedEarly: number;
  eventLatency: HistogramData;
  latencyByType: Array<[string, HistogramData]>;
  seen: Map<string, Seen>;
  loopDelayMs: LoopDelay;
}

/** `sockets` sockets of client number `client` (its index in the bench's bundles). */
export interface Share {
  client: number;
  sockets: number;
}

export interface SubscriberWorkerData {
  url: string;
  shares: Array<Share & { bundle: Bundle }>;
}

export type ToSubscriber =
  /** The warm-up is over: forget what was counted (but not `seen`) and start the loop-delay monitor. */
  | { kind: 'restart' }
  /**
   * Report once each of these messages (id, how many of the thread's sockets get its events)
   * has every tracked event on every such socket, or at `deadline` (Date.now()).
   */
  | { kind: 'drain'; expected: Array<[string, number]>; deadline: number };

export type FromSubscriber = { kind: 'opened' } | { kind: 'report'; report: SubscriberReport };

/**
 * The sockets (client-major: client 0's, then client 1's, …) cut into `threads` runs of
 * near-equal length: each thread opens as many sockets, and a client's sockets stay in one
 * thread unless a cut falls inside them, so that each thread's `seen` map holds the messages
 * of its own clients rather than of all of them.
 */
export function shareSockets(clients: number, sockets: number, threads: number): Share[][] {
  const total = clients * sockets;
  return Array.from({ length: threads }, (_, thread) => {
    const to = Math.floor(((thread + 1) * total) / threads);
    const shares: Share[] = [];
    for (let k = Math.floor((thread * total) / threads); k < to; ) {
      const client = Math.floor(k / sockets);
      const end = Math.min(to, (client + 1) * sockets);
      shares.push({ client, sockets: end - k });
      k = end;
    }
    return shares;
  });
}

/** The threads' reports added up: what one thread holding every socket would have counted. */
export interface SubscriberTotals {
  frames: number;
  closedEarly: number;
  eventLatency: Histogram;
  latencyByType: Map<string, Histogram>;
  seen: Map<string, Seen>;
  /** Per thread, and the worst of each figure over the threads. */
  loopDelayMs: LoopDelay & { by_thread: LoopDelay[] };
}

/** Takes the reports' histograms over (the first thread's of a type becomes the total). */
export function mergeReports(reports: SubscriberReport[]): SubscriberTotals {
  const eventLatency = Histogram.empty();
  const latencyByType = new Map<string, Histogram>();
  const seen = new Map<string, Seen>();
  let frames = 0;
  let closedEarly = 0;
  for (const report of reports) {
    frames += report.frames;
    closedEarly += report.closedEarly;
    eventLatency.merge(report.eventLatency);
    for (const [type, data] of report.latencyByType) {
      const byType = latencyByType.get(type);
      if (byType) byType.merge(data);
      else latencyByType.set(type, Histogram.from(data));
    }
    mergeSeen(seen, report.seen);
  }
  const byThread = reports.map((report) => report.loopDelayMs);
  const worst = (figure: keyof LoopDelay) => Math.max(0, ...byThread.map((delay) => delay[figure]));
  return {
    frames,
    closedEarly,
    eventLatency,
    latencyByType,
    seen,
    loopDelayMs: { p50: worst('p50'), p99: worst('p99'), max: worst('max'), by_thread: byThread },
  };
}

/** Adds a thread's receipts per message to `into`: counts add up, `delivered` receipt times are kept side by side. */
export function mergeSeen(into: Map<string, Seen>, from: Map<string, Seen>): void {
  for (const [id, seen] of from) {
    const mine = into.get(id);
    if (!mine) {
      into.set(id, { counts: [...seen.counts], deliveredAt: [...seen.deliveredAt] });
      continue;
    }
    for (let i = 0; i < TRACKED.length; i++) mine.counts[i as 0 | 1 | 2] += seen.counts[i as 0 | 1 | 2];
    for (const at of seen.deliveredAt) mine.deliveredAt.push(at);
  }
}
