import { describe, expect, it } from 'vitest';
import type { ActorName } from '../actors/actor.protocol.js';
import { ActorMetricsCollector, type ActorMetricsSource } from './actor-metrics.collector.js';
import type { MetricFamily } from './metric-families.js';

/** A stand-in actor whose counter, gauge and liveness the test sets. */
class FakeActor implements ActorMetricsSource {
  isUp = true;
  parked = false;
  incarnation = 0;
  stored = 0;
  backlog = 0;
  slow = false;
  private final: ((incarnation: number, families: MetricFamily[]) => void) | undefined;

  constructor(readonly name: ActorName) {}

  families(): MetricFamily[] {
    return [
      {
        name: 'mb_messages_stored_total',
        help: '',
        type: 'counter',
        aggregator: 'sum',
        values: [{ value: this.stored, labels: { domain: 'd' } }],
      },
      { name: 'mb_backlog', help: '', type: 'gauge', aggregator: 'sum', values: [{ value: this.backlog, labels: {} }] },
      {
        name: 'nodejs_heap_size_used_bytes',
        help: '',
        type: 'gauge',
        aggregator: 'sum',
        values: [{ value: 100, labels: {} }],
      },
    ];
  }

  read(timeoutMs: number): Promise<MetricFamily[]> {
    if (this.slow) return new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), timeoutMs));
    return Promise.resolve(this.families());
  }

  onFinalReading(listener: (incarnation: number, families: MetricFamily[]) => void): void {
    this.final = listener;
  }

  /** Dies: posts its last reading (as the runtime does from uncaughtExceptionMonitor), then restarts from zero. */
  crash(withFinalReading: boolean): void {
    if (withFinalReading) this.final?.(this.incarnation, this.families());
    this.isUp = false;
    this.incarnation++;
    this.stored = 0;
    this.backlog = 0;
  }
}

function sampleValue(families: MetricFamily[], name: string): number | undefined {
  return families.find((f) => f.name === name)?.values[0]?.value;
}

describe('ActorMetricsCollector', () => {
  it('never lets a counter go backwards across restarts and keeps it exact', async () => {
    const actor = new FakeActor('delivery');
    const collector = new ActorMetricsCollector([actor], 100);
    actor.stored = 10;
    expect(sampleValue((await collector.collect()).families[0]!, 'mb_messages_stored_total')).toBe(10);

    actor.stored = 15; // counted after the last scrape, then the thread dies
    actor.crash(true);
    const whileDown = await collector.collect();
    expect(sampleValue(whileDown.families[0]!, 'mb_messages_stored_total')).toBe(15);

    actor.isUp = true; // second incarnation, starting from zero
    actor.stored = 2;
    actor.backlog = 4;
    const after = await collector.collect();
    expect(sampleValue(after.families[0]!, 'mb_messages_stored_total')).toBe(17);
    expect(sampleValue(after.families[0]!, 'mb_backlog')).toBe(4); // gauges are not carried over

    actor.crash(true);
    actor.isUp = true;
    actor.stored = 1;
    expect(sampleValue((await collector.collect()).families[0]!, 'mb_messages_stored_total')).toBe(18);
  });

  it('without last words, keeps the last scraped reading (never backwards, may miss the tail)', async () => {
    const actor = new FakeActor('ingest');
    const collector = new ActorMetricsCollector([actor], 100);
    actor.stored = 10;
    await collector.collect();
    actor.stored = 12;
    actor.crash(false);
    actor.isUp = true;
    actor.stored = 1;
    expect(sampleValue((await collector.collect()).families[0]!, 'mb_messages_stored_total')).toBe(11);
  });

  it('shows a slow actor with its last reading and says how old it is', async () => {
    let now = 1_000_000;
    const actor = new FakeActor('encryption');
    const collector = new ActorMetricsCollector([actor], 20, () => now);
    actor.stored = 3;
    await collector.collect();
    actor.slow = true;
    actor.stored = 9;
    now += 5000;
    const readings = await collector.collect();
    expect(sampleValue(readings.families[0]!, 'mb_messages_stored_total')).toBe(3);
    expect(readings.ages.get('encryption')).toBe(5);
  });

  it('ignores a reading from an incarnation already retired', async () => {
    const actor = new FakeActor('delivery');
    const collector = new ActorMetricsCollector([actor], 100);
    actor.incarnation = 2;
    actor.stored = 5;
    await collector.collect();
    collector.accept(
      'delivery',
      1,
      actor.families().map((f) => ({ ...f, values: f.values.map((v) => ({ ...v, value: 1000 })) })),
    );
    expect(sampleValue((await collector.collect()).families[0]!, 'mb_messages_stored_total')).toBe(5);
  });

  it('shows a parked actor with its final counts and no gauges, then counts on from its next start', async () => {
    let now = 1_000_000;
    const actor = new FakeActor('ca');
    const collector = new ActorMetricsCollector([actor], 100, () => now);
    actor.stored = 4;
    actor.backlog = 2;
    await collector.collect();
    actor.stored = 6; // counted after the last scrape: the park's final reading carries it
    actor.crash(true);
    actor.parked = true;
    now += 60_000;
    const parked = await collector.collect();
    expect(sampleValue(parked.families[0]!, 'mb_messages_stored_total')).toBe(6);
    expect(sampleValue(parked.families[0]!, 'mb_backlog')).toBeUndefined();
    expect(sampleValue(parked.families[0]!, 'nodejs_heap_size_used_bytes')).toBeUndefined();
    expect(parked.ages.get('ca')).toBe(0);

    actor.parked = false; // started again for a call
    actor.isUp = true;
    actor.stored = 1;
    expect(sampleValue((await collector.collect()).families[0]!, 'mb_messages_stored_total')).toBe(7);
  });

  it('labels each actor’s Node metrics with its thread', async () => {
    const collector = new ActorMetricsCollector([new FakeActor('ca')], 100);
    const heap = (await collector.collect()).families[0]!.find((f) => f.name === 'nodejs_heap_size_used_bytes')!;
    expect(heap.values[0]!.labels).toEqual({ thread: 'ca' });
  });
});
