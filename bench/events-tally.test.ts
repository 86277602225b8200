/**
 * The fan-out bench's subscriber threads (bench/events-fanout.ts): how the sockets are shared
 * out, that the threads' counts add up to what one thread would have counted, and that the
 * worker thread loads and answers the bench's protocol.
 */
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import {
  type FromSubscriber,
  Histogram,
  mergeReports,
  type Seen,
  type SubscriberReport,
  type SubscriberWorkerData,
  shareSockets,
  type ToSubscriber,
} from './events-tally.js';

/** A report as a thread posts it: its histograms' buffers transferred (detached here). */
function posted(report: SubscriberReport): SubscriberReport {
  const buffers = [report.eventLatency, ...report.latencyByType.map(([, data]) => data)].map((d) => d.buckets.buffer);
  return structuredClone(report, { transfer: buffers });
}

function histogram(latencies: number[]): Histogram {
  const h = Histogram.empty();
  for (const ms of latencies) h.add(ms);
  return h;
}

function report(latencies: number[], seen: Array<[string, Seen]>, loopDelayMs = { p50: 1, p99: 2, max: 3 }) {
  return posted({
    sockets: 1,
    frames: latencies.length,
    closedEarly: 1,
    eventLatency: histogram(latencies).data(),
    latencyByType: [['queued', histogram(latencies).data()]],
    seen: new Map(seen),
    loopDelayMs,
  });
}

describe('events fan-out tally', () => {
  it('shares the sockets out in near-equal runs, keeping a client in one thread unless a cut falls inside it', () => {
    const even = shareSockets(100, 10, 4);
    expect(even.map((shares) => shares.length)).toEqual([25, 25, 25, 25]);
    expect(even.flat().every((share) => share.sockets === 10)).toBe(true);
    expect(even[1]![0]).toEqual({ client: 25, sockets: 10 });

    const split = shareSockets(3, 10, 4);
    expect(split.map((shares) => shares.reduce((n, s) => n + s.sockets, 0))).toEqual([7, 8, 7, 8]);
    const perClient = [0, 0, 0];
    for (const share of split.flat()) perClient[share.client]! += share.sockets;
    expect(perClient).toEqual([10, 10, 10]);

    expect(shareSockets(1, 1000, 4)).toEqual(Array.from({ length: 4 }, () => [{ client: 0, sockets: 250 }]));
  });

  it('adds the threads’ histograms bucket by bucket: the summary of one thread that saw everything', () => {
    const a = [1, 5, 5, 40, 2000];
    const b = [3, 5, 900, 900, 70];
    const totals = mergeReports([report(a, []), report(b, [])]);
    expect(totals.eventLatency.summary()).toEqual(histogram([...a, ...b]).summary());
    expect(totals.latencyByType.get('queued')!.summary()).toEqual(histogram([...a, ...b]).summary());
    expect(totals.frames).toBe(10);
    expect(totals.closedEarly).toBe(2);
  });

  it('adds up the receipts of a client whose sockets two threads share, and keeps every delivered time', () => {
    const seen = (n: number, at: number): Seen => ({
      counts: [n, n, n],
      deliveredAt: Array.from({ length: n }, () => at),
    });
    const totals = mergeReports([
      report([], [['m1', seen(3, 100)]], { p50: 1, p99: 30, max: 50 }),
      report(
        [],
        [
          ['m1', seen(7, 200)],
          ['m2', seen(10, 300)],
        ],
        { p50: 2, p99: 20, max: 90 },
      ),
    ]);
    expect(totals.seen.get('m1')!.counts).toEqual([10, 10, 10]);
    expect(totals.seen.get('m1')!.deliveredAt.sort()).toEqual([...Array(3).fill(100), ...Array(7).fill(200)]);
    expect(totals.seen.get('m2')!.counts).toEqual([10, 10, 10]);
    expect(totals.loopDelayMs).toEqual({
      p50: 2,
      p99: 30,
      max: 90,
      by_thread: [
        { p50: 1, p99: 30, max: 50 },
        { p50: 2, p99: 20, max: 90 },
      ],
    });
  });

  it('runs the subscriber thread: opened, restart, drain → its report with the histograms transferred', async () => {
    const workerData: SubscriberWorkerData = { url: 'https://127.0.0.1:1', shares: [] };
    const worker = new Worker(fileURLToPath(new URL('./events-subscriber-worker.ts', import.meta.url)), {
      workerData,
      execArgv: ['--import', 'tsx'],
    });
    try {
      const next = async () => ((await once(worker, 'message')) as [FromSubscriber])[0];
      expect(await next()).toEqual({ kind: 'opened' });
      worker.postMessage({ kind: 'restart' } satisfies ToSubscriber);
      worker.postMessage({ kind: 'drain', expected: [['m1', 1]], deadline: Date.now() + 300 } satisfies ToSubscriber);
      const answer = await next();
      if (answer.kind !== 'report') throw new Error(answer.kind);
      expect(answer.report).toMatchObject({ sockets: 0, frames: 0, closedEarly: 0, latencyByType: [] });
      expect(answer.report.eventLatency.buckets).toHaveLength(120_001);
      expect(answer.report.seen.size).toBe(0);
    } finally {
      await worker.terminate();
    }
  });
});
