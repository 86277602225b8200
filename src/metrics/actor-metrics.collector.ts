/**
 * The supervisor's view of every actor's registry. On each scrape it asks every live
 * actor for its numbers (`actor.metrics`, short timeout) and keeps the last answer of
 * each incarnation:
 *
 *   incarnation n   ─ last reading (a scrape, or the final one a crashing actor posts) ─┐
 *   incarnation n+1 ─ its first reading retires n's counters into the offset ◀──────────┘
 *   shown = offset + latest reading   (counters and histograms: never backwards)
 *           latest reading            (gauges)
 *
 * A dead or slow actor is shown with its last reading. The incarnation is the host's
 * count of threads started (crash restarts and graceful reload restarts) when the call was made: a call only reaches the worker that was attached
 * then, and a worker's death fails its pending calls, so a reading is never misfiled.
 */
import type { ActorHost } from '../actors/actor-host.js';
import type { ActorName, ControlProtocol } from '../actors/actor.protocol.js';
import type { RpcPeer } from '../rpc/rpc-peer.js';
import { labelThread, monotonicOnly, sumFamilies, type MetricFamily } from './metric-families.js';

/** What the collector needs of an actor (an ActorHost, or a fake in tests). */
export interface ActorMetricsSource {
  readonly name: ActorName;
  readonly isUp: boolean;
  /** Parked on purpose (an on-demand actor): its final reading's counts are exact, its gauges are gone with the thread. */
  readonly parked: boolean;
  /** Which thread this is: grows on every start, crash restarts and graceful ones alike. */
  readonly incarnation: number;
  read(timeoutMs: number): Promise<MetricFamily[]>;
  onFinalReading(listener: (incarnation: number, families: MetricFamily[]) => void): void;
}

export function metricsSourceOf(host: ActorHost<never>): ActorMetricsSource {
  const rpc = host.rpc as unknown as RpcPeer<ControlProtocol>;
  return {
    name: host.name,
    get isUp() {
      return host.isUp;
    },
    get parked() {
      return host.state === 'idle';
    },
    get incarnation() {
      return host.incarnation;
    },
    read: async (timeoutMs) => (await rpc.call('actor.metrics', {}, { timeoutMs })).families,
    onFinalReading: (listener) => void host.on('final-metrics', listener),
  };
}

interface Reading {
  incarnation: number;
  families: MetricFamily[];
  at: number;
}

interface ActorSeries {
  /** Counters and histograms of incarnations that are gone. */
  offset: MetricFamily[];
  latest?: Reading;
}

export interface ActorReadings {
  /** One list per actor: offset + latest, `nodejs_*` labelled with the actor's name. */
  families: MetricFamily[][];
  /** Seconds since each actor's latest reading (0 = answered this scrape). */
  ages: Map<ActorName, number>;
}

export class ActorMetricsCollector {
  private readonly series = new Map<ActorName, ActorSeries>();

  constructor(
    private readonly sources: readonly ActorMetricsSource[],
    private readonly timeoutMs: number,
    private readonly now: () => number = Date.now,
  ) {
    for (const source of sources) {
      this.series.set(source.name, { offset: [] });
      source.onFinalReading((incarnation, families) => this.accept(source.name, incarnation, families));
    }
  }

  async collect(): Promise<ActorReadings> {
    await Promise.all(
      this.sources.map(async (source) => {
        if (!source.isUp) return;
        const incarnation = source.incarnation;
        try {
          this.accept(source.name, incarnation, await source.read(this.timeoutMs));
        } catch {
          // Down or slow: its last reading stands (and its age shows how old it is).
        }
      }),
    );
    const families: MetricFamily[][] = [];
    const ages = new Map<ActorName, number>();
    const now = this.now();
    for (const source of this.sources) {
      const series = this.series.get(source.name)!;
      const latest = series.latest?.families ?? [];
      // A parked thread has no heap or event loop to show: only what it counted stays.
      const shown = source.parked ? monotonicOnly(latest) : latest;
      families.push(labelThread(sumFamilies(series.offset, shown), source.name, false));
      if (series.latest) ages.set(source.name, source.parked ? 0 : (now - series.latest.at) / 1000);
    }
    return { families, ages };
  }

  /** Files a reading under its incarnation; a newer incarnation retires the older one's counters. */
  accept(name: ActorName, incarnation: number, families: MetricFamily[]): void {
    const series = this.series.get(name);
    if (!series) return;
    const latest = series.latest;
    if (latest && incarnation < latest.incarnation) return; // from an incarnation already retired
    if (latest && incarnation > latest.incarnation)
      series.offset = sumFamilies(series.offset, monotonicOnly(latest.families));
    series.latest = { incarnation, families, at: this.now() };
  }
}
