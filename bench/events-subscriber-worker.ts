/**
 * One of the fan-out bench's subscriber threads (bench/events-fanout.ts): opens its share of
 * the WebSockets on `GET /api/v1/events`, counts what they receive, and posts its counts to
 * the bench's main thread when told to drain (bench/events-tally.ts has the protocol).
 *
 * Threads, not one event loop for all the sockets: at ~140,000 frames/s one loop stalled for
 * up to 2 s (TLS, parsing, the GC of a 200–290 MB heap), and the latencies measured were its
 * own lag rather than the broker's. Receipt times are taken here, on the thread that reads
 * the frame, so a thread's lag is its own sockets' alone; each thread reports its loop delay.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parentPort, type TransferListItem, workerData } from 'node:worker_threads';
import WebSocket from 'ws';
import { parseFrame } from './event-frame.js';
import {
  type Bundle,
  type FromSubscriber,
  Histogram,
  type HistogramData,
  type Seen,
  type SubscriberReport,
  type SubscriberWorkerData,
  type ToSubscriber,
  TRACKED,
} from './events-tally.js';

const DRAIN_CHECK_MS = 200;

class Subscribers {
  eventLatency = Histogram.empty();
  /** By type: `queued` is written at the 202, `stored`/`delivered` after MariaDB (where a busy box queues). */
  latencyByType = new Map<string, Histogram>();
  readonly seen = new Map<string, Seen>();
  readonly sockets: WebSocket[] = [];
  closedEarly = 0;
  frames = 0;
  /** Set once the counts are posted: their buffers are gone, and later frames are past the drain anyway. */
  private reported = false;
  // This thread's event-loop delay under load: when it is large, its sockets' latencies are
  // its own lag (the threads share the cores with the broker), not the broker's.
  private readonly loopDelay = monitorEventLoopDelay({ resolution: 10 });

  async open(url: string, bundle: Bundle): Promise<void> {
    // Text frames from the broker are not checked as UTF-8 here (the e2e tests read them
    // with the default): the subscribers share the box's cores with the broker.
    const socket = new WebSocket(`${url.replace(/^https/, 'wss')}/api/v1/events`, {
      ...bundle,
      skipUTF8Validation: true,
    });
    this.sockets.push(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.on('message', (data) => {
        const now = Date.now();
        const frame = parseFrame(data.toString());
        if (frame.type === 'subscribed') return resolve();
        if (frame.event_id && !this.reported) this.count(frame.type, frame.message_id!, frame.at!, now);
      });
      socket.once('close', () => this.closedEarly++);
    });
  }

  private count(type: string, messageId: string, at: string, now: number): void {
    this.frames++;
    const latency = now - Date.parse(at);
    this.eventLatency.add(latency);
    let byType = this.latencyByType.get(type);
    if (!byType) this.latencyByType.set(type, (byType = Histogram.empty()));
    byType.add(latency);
    const index = (TRACKED as readonly string[]).indexOf(type);
    if (index < 0) return;
    let seen = this.seen.get(messageId);
    if (!seen) this.seen.set(messageId, (seen = { counts: [0, 0, 0], deliveredAt: [] }));
    seen.counts[index as 0 | 1 | 2]++;
    if (type === 'delivered') seen.deliveredAt.push(now);
  }

  /** Forgets what was counted so far (the warm-up). */
  restart(): void {
    this.eventLatency = Histogram.empty();
    this.latencyByType.clear();
    this.frames = 0;
    this.loopDelay.reset();
    this.loopDelay.enable();
  }

  /** Whether the message's every tracked event reached `sockets` of this thread's sockets. */
  has([id, sockets]: [string, number]): boolean {
    return this.seen.get(id)?.counts.every((n) => n >= sockets) === true;
  }

  /** The counts and the buffers to transfer with them (the histograms' buckets: 480 KB each, not copied). */
  report(): { report: SubscriberReport; transfer: TransferListItem[] } {
    this.reported = true;
    this.loopDelay.disable();
    const byType = [...this.latencyByType].map(([type, histogram]): [string, HistogramData] => [
      type,
      histogram.data(),
    ]);
    const report: SubscriberReport = {
      sockets: this.sockets.length,
      frames: this.frames,
      closedEarly: this.closedEarly,
      eventLatency: this.eventLatency.data(),
      latencyByType: byType,
      seen: this.seen,
      loopDelayMs: {
        p50: ms(this.loopDelay.percentile(50)),
        p99: ms(this.loopDelay.percentile(99)),
        max: ms(this.loopDelay.max),
      },
    };
    return {
      report,
      transfer: [report.eventLatency, ...byType.map(([, data]) => data)].map((data) => data.buckets.buffer),
    };
  }
}

/** Waits until every expected message is complete or the deadline passes, then posts the counts. */
async function drain(subscribers: Subscribers, expected: Array<[string, number]>, deadline: number): Promise<void> {
  // Counts only grow: the messages before `done` are complete and are not looked at again.
  let done = 0;
  const complete = () => {
    while (done < expected.length && subscribers.has(expected[done]!)) done++;
    return done === expected.length;
  };
  while (Date.now() < deadline && !complete()) await new Promise((r) => setTimeout(r, DRAIN_CHECK_MS));
  const { report, transfer } = subscribers.report();
  post({ kind: 'report', report }, transfer);
}

function post(message: FromSubscriber, transfer: TransferListItem[] = []): void {
  parentPort!.postMessage(message, transfer);
}

function ms(ns: number): number {
  return Math.round(ns / 1e4) / 100;
}

const { url, shares } = workerData as SubscriberWorkerData;
const subscribers = new Subscribers();
parentPort!.on('message', (message: ToSubscriber) => {
  if (message.kind === 'restart') subscribers.restart();
  else void drain(subscribers, message.expected, message.deadline);
});
// A client's sockets at once, one client after the other (as the single loop did): a failed
// handshake fails the thread, which fails the bench.
for (const share of shares)
  await Promise.all(Array.from({ length: share.sockets }, () => subscribers.open(url, share.bundle)));
post({ kind: 'opened' });
