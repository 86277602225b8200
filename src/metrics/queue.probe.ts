/**
 * Where messages wait, read from Redis at scrape time (one pipeline for all domains):
 *
 *   stream   XLEN      → redis_queue_size            unstored backlog (stored entries are XDELed)
 *            XPENDING  → mb_stream_pending_messages   read by delivery, not yet stored
 *                        mb_stream_lag_messages       not yet read by delivery (XLEN − pending)
 *            XRANGE 1  → mb_stream_oldest_unstored_age_seconds  (entry id time vs Redis TIME)
 *   schedule ZCARD     → mb_delivery_scheduled_messages  waiting for a (first or next) attempt
 *   inflight ZCARD     → mb_delivery_leased_messages     attempt under way
 *   dead     XLEN      → mb_dead_letter_stream_length
 *
 * And Redis memory against the broker's limit (redis.max_backlog_bytes / max_memory_percent),
 * as the writability watch read it within the last second (no extra command):
 *
 *   mb_redis_memory_used_bytes       used_memory
 *   mb_redis_memory_limit_bytes      used_memory at which submits are 503 QUEUE_FULL (0 = none)
 *   mb_redis_memory_headroom_bytes   limit − used (only while there is a limit)
 *
 * XRANGE returns the entry's fields too (a sealed message not yet stored): they are
 * dropped at once; Redis has no command that gives the first id alone.
 */
import type { Redis } from 'ioredis';
import type { BrokerConfig } from '../config/config.js';
import type { LiveConfig } from '../config/live-config.js';
import { DEFAULT_TARGET_NAME } from '../config/config.schema.js';
import { DELIVERY_GROUP, keysFor, targetKeys, type DomainKeys } from '../queue/keys.js';
import type { RedisMemory } from '../queue/redis-writability.js';
import { GaugeFamily } from './fast-series.js';

const gauge = (name: string, help: string) => new GaugeFamily(name, help, ['domain']);

const queueSize = gauge('redis_queue_size', 'Messages in the domain stream not yet stored in MySQL');
const pending = gauge(
  'mb_stream_pending_messages',
  'Stream entries read by the delivery group but not yet stored and acknowledged',
);
const lag = gauge('mb_stream_lag_messages', 'Stream entries not yet read by the delivery group');
const oldestAge = gauge(
  'mb_stream_oldest_unstored_age_seconds',
  'Age of the oldest message not yet stored (0 when none waits)',
);
const scheduled = gauge('mb_delivery_scheduled_messages', 'Webhook messages waiting for their first or next attempt');
const leased = gauge('mb_delivery_leased_messages', 'Delivery attempts (webhook and amqp) under way (leased)');
const deadLetters = gauge('mb_dead_letter_stream_length', 'Entries in the dead-letter stream');
const ALL = [queueSize, pending, lag, oldestAge, scheduled, leased, deadLetters];
const memoryUsed = new GaugeFamily('mb_redis_memory_used_bytes', 'Redis used_memory, as last read (every second)');
const memoryLimit = new GaugeFamily(
  'mb_redis_memory_limit_bytes',
  'Redis used_memory at which submits are refused with 503 QUEUE_FULL (redis.max_backlog_bytes, or redis.max_memory_percent of maxmemory); 0 = no limit',
);
const memoryHeadroom = new GaugeFamily(
  'mb_redis_memory_headroom_bytes',
  'Bytes Redis may still grow before submits are refused with QUEUE_FULL (absent without a limit)',
);
const MEMORY = [memoryUsed, memoryLimit, memoryHeadroom];

type Reply = [Error | null, unknown];

export class QueueProbe {
  constructor(
    private readonly redis: Redis,
    /** The domains in force: a reload that adds one shows it at the next scrape. */
    private readonly config: LiveConfig,
    /** The writability watch's last reading of Redis memory. */
    private readonly memory: () => RedisMemory | undefined = () => undefined,
  ) {}

  private keysOf: {
    config?: Readonly<BrokerConfig>;
    keys: ReadonlyMap<string, DomainKeys>;
    /** Per domain, the delivery keys of its targets other than `default` (whose keys are the domain's). */
    otherTargets: ReadonlyMap<string, DomainKeys[]>;
  } = { keys: new Map(), otherTargets: new Map() };

  private get keysByDomain(): ReadonlyMap<string, DomainKeys> {
    const config = this.config.current();
    if (this.keysOf.config !== config) {
      const otherTargets = new Map(
        config.domains.map((d) => [
          d.name,
          d.targets
            .filter((t) => t.name !== DEFAULT_TARGET_NAME)
            .map((t) => targetKeys(config.redis.key_prefix, d, t.name)),
        ]),
      );
      this.keysOf = { config, keys: keysFor(config), otherTargets };
    }
    return this.keysOf.keys;
  }

  async refresh(): Promise<void> {
    const keysByDomain = this.keysByDomain;
    const { otherTargets } = this.keysOf;
    const pipeline = this.redis.pipeline().time();
    for (const [domain, keys] of keysByDomain) {
      pipeline
        .xlen(keys.stream)
        .xpending(keys.stream, DELIVERY_GROUP)
        .xrange(keys.stream, '-', '+', 'COUNT', 1)
        .zcard(keys.schedule)
        .zcard(keys.inflight)
        .xlen(keys.dead);
      for (const target of otherTargets.get(domain) ?? [])
        pipeline.zcard(target.schedule).zcard(target.inflight).xlen(target.dead);
    }
    const replies = ((await pipeline.exec()) ?? []) as Reply[];
    const [timeError, time] = replies[0] ?? [new Error('no reply')];
    if (timeError) throw timeError;
    const [seconds, micros] = time as [string, string];
    const redisNowMs = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
    let i = 1;
    for (const domain of keysByDomain.keys()) {
      const [length, summary, first, waiting, underWay, dead] = replies.slice(i, i + 6);
      i += 6;
      // A domain's gauges add up its targets' schedules, leases and dead letters.
      let [scheduledCount, leasedCount, deadCount] = [numberOf(waiting), numberOf(underWay), numberOf(dead)];
      for (const _ of otherTargets.get(domain) ?? []) {
        scheduledCount += numberOf(replies[i]);
        leasedCount += numberOf(replies[i + 1]);
        deadCount += numberOf(replies[i + 2]);
        i += 3;
      }
      const size = numberOf(length);
      // NOGROUP before the delivery actor made its group: nothing is pending yet.
      const pendingCount = summary && !summary[0] ? Number((summary[1] as unknown[] | null)?.[0] ?? 0) : 0;
      queueSize.series(domain).set(size);
      pending.series(domain).set(pendingCount);
      lag.series(domain).set(Math.max(0, size - pendingCount));
      oldestAge.series(domain).set(ageSeconds(first, redisNowMs));
      scheduled.series(domain).set(scheduledCount);
      leased.series(domain).set(leasedCount);
      deadLetters.series(domain).set(deadCount);
    }
    this.refreshMemory();
  }

  private refreshMemory(): void {
    const memory = this.memory();
    if (!memory) return;
    memoryUsed.series().set(memory.used);
    memoryLimit.series().set(memory.limit);
    if (memory.limit > 0) memoryHeadroom.series().set(Math.max(0, memory.limit - memory.used));
    else memoryHeadroom.clear();
  }

  /** Redis did not answer: drop the readings rather than show stale ones (readiness says why). */
  clear(): void {
    for (const g of [...ALL, ...MEMORY]) g.clear();
  }
}

function numberOf(reply: Reply | undefined): number {
  if (!reply || reply[0]) return 0;
  return Number(reply[1] ?? 0);
}

/** Entry ids start with Redis' clock in ms; compared with Redis' own TIME, so host clocks do not matter. */
function ageSeconds(reply: Reply | undefined, redisNowMs: number): number {
  if (!reply || reply[0]) return 0;
  const entries = reply[1] as Array<[string, unknown]>;
  const id = entries[0]?.[0];
  if (!id) return 0;
  return Math.max(0, (redisNowMs - Number(id.split('-')[0])) / 1000);
}
