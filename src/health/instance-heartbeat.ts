/**
 * Each broker instance announces itself in the shared Redis: `instanceKey` holds its
 * version, start time and config fingerprint with a TTL of three intervals, and the
 * `instancesIndexKey` sorted set lists who beat recently. Every beat also reads the
 * others, so health and the gauge `mb_config_fingerprint_mismatch` show instances whose
 * configuration differs from this one's (they would disagree on limits, domains, retry
 * policy…), naming the keys that differ from per-key hashes (never values), and two
 * processes that share an instance_id (and so a consumer name).
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import { Gauge, type Registry } from 'prom-client';
import { differingConfigKeys } from '../config/config-fingerprint.js';
import type { KeyIdsReport } from '../crypto/crypto.types.js';
import type { Logger } from '../logger.js';
import { instanceKey, instancesIndexKey } from '../queue/keys.js';
import type { ComponentStatus } from './health.service.js';

export interface InstanceInfo {
  instance_id: string;
  version: string;
  started_at: string;
  fingerprint: string;
  /** Per key path (`delivery.max_attempts`, `domains.acme`): a short hash, never the value. Absent from older brokers. */
  config_sections?: Record<string, string>;
  host: string;
  pid: number;
  /** Random per process: tells two processes with the same instance_id apart. */
  boot_id: string;
  seen_at: string;
  /** Key and pepper ids the encryption actor uses (for `mb keys`); absent while it restarts. */
  keys?: KeyIdsReport;
}

export interface HeartbeatDeps {
  redis: Redis;
  prefix: string;
  instanceId: string;
  version: string;
  fingerprint: string;
  /** `configSectionFingerprints` of the same config: lets a mismatch name the keys. */
  configSections?: Record<string, string>;
  intervalMs: number;
  logger: Logger;
  registry: Registry;
  /** Read at every beat: which keys this instance uses right now. */
  keys?: () => Promise<KeyIdsReport | undefined>;
}

export class InstanceHeartbeat {
  private readonly self: Omit<InstanceInfo, 'seen_at'>;
  private timer: NodeJS.Timeout | undefined;
  private others: InstanceInfo[] = [];
  private duplicateOf: InstanceInfo | undefined;
  private failure: string | undefined;
  private reported = '';
  private readonly mismatchGauge: Gauge;
  private readonly liveGauge: Gauge;

  constructor(private readonly deps: HeartbeatDeps) {
    this.self = {
      instance_id: deps.instanceId,
      version: deps.version,
      started_at: new Date().toISOString(),
      fingerprint: deps.fingerprint,
      ...(deps.configSections ? { config_sections: deps.configSections } : {}),
      host: hostname(),
      pid: process.pid,
      boot_id: randomUUID(),
    };
    this.mismatchGauge = new Gauge({
      name: 'mb_config_fingerprint_mismatch',
      help: "Live instances sharing this Redis whose effective config fingerprint differs from this instance's (0 = all agree)",
      registers: [deps.registry],
    });
    this.liveGauge = new Gauge({
      name: 'mb_instances_live',
      help: 'Broker instances with a live heartbeat in this Redis, this one included',
      registers: [deps.registry],
    });
  }

  /** Writes the first heartbeat (and reads the others), then keeps beating. */
  async start(): Promise<void> {
    this.deps.logger.info(
      // instance_id is on every line of the supervisor's logger already.
      { fingerprint: this.self.fingerprint },
      'config fingerprint',
    );
    await this.beat();
    this.timer = setInterval(() => void this.beat(), this.deps.intervalMs);
    this.timer.unref();
  }

  /** Stops beating and withdraws this instance at once (others stop counting it). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    const { redis, prefix, instanceId } = this.deps;
    try {
      const current = await redis.get(instanceKey(prefix, instanceId));
      // Only our own entry: another process may (wrongly) share the id.
      if (current && (JSON.parse(current) as InstanceInfo).boot_id === this.self.boot_id) {
        await redis.pipeline().del(instanceKey(prefix, instanceId)).zrem(instancesIndexKey(prefix), instanceId).exec();
      }
    } catch {
      // Redis away: the entry expires by itself.
    }
  }

  async beat(): Promise<void> {
    const { redis, prefix, instanceId, intervalMs } = this.deps;
    const now = Date.now();
    const ttl = 3 * intervalMs;
    const keys = await this.deps.keys?.().catch(() => undefined);
    try {
      const replies =
        (await redis
          .pipeline()
          .call(
            'SET',
            instanceKey(prefix, instanceId),
            JSON.stringify({ ...this.self, seen_at: new Date(now).toISOString(), ...(keys ? { keys } : {}) }),
            'PX',
            String(ttl),
            'GET',
          )
          .zadd(instancesIndexKey(prefix), now, instanceId)
          .zremrangebyscore(instancesIndexKey(prefix), '-inf', now - ttl)
          .zrange(instancesIndexKey(prefix), '0', '-1')
          .exec()) ?? [];
      for (const [error] of replies) if (error) throw error;
      const previous = parse(replies[0]?.[1]);
      this.duplicateOf = previous && previous.boot_id !== this.self.boot_id ? previous : undefined;
      const ids = ((replies[3]?.[1] as string[]) ?? []).filter((id) => id !== instanceId);
      const values = ids.length > 0 ? await redis.mget(ids.map((id) => instanceKey(prefix, id))) : [];
      this.others = values.map(parse).filter((info): info is InstanceInfo => info !== undefined);
      this.failure = undefined;
    } catch (error) {
      this.failure = (error as Error).message;
    }
    this.mismatchGauge.set(this.mismatched().length);
    this.liveGauge.set(this.others.length + 1);
    this.logChanges();
  }

  /** After a live config reload: announced with the next beat. */
  setFingerprint(fingerprint: string, configSections?: Record<string, string>): void {
    this.self.fingerprint = fingerprint;
    if (configSections) this.self.config_sections = configSections;
  }

  /** Live instances whose config differs from this one's. */
  mismatched(): InstanceInfo[] {
    return this.others.filter((other) => other.fingerprint !== this.self.fingerprint);
  }

  /**
   * The key paths whose settings differ between this instance and `other`; undefined when
   * one of them (an older broker) does not announce per-key hashes.
   */
  differingKeys(other: InstanceInfo): string[] | undefined {
    if (!this.self.config_sections || !other.config_sections) return undefined;
    return differingConfigKeys(this.self.config_sections, other.config_sections);
  }

  /** Each mismatched instance with the keys that differ (when both sides can tell). */
  private mismatchReport(): Array<{ instance_id: string; fingerprint: string; differing_keys?: string[] }> {
    return this.mismatched().map((other) => {
      const keys = this.differingKeys(other);
      return {
        instance_id: other.instance_id,
        fingerprint: other.fingerprint,
        ...(keys ? { differing_keys: keys } : {}),
      };
    });
  }

  /** The `instances` component of /api/v1/health. */
  component(): { status: ComponentStatus; [detail: string]: unknown } {
    const mismatched = this.mismatchReport();
    const problems = [
      ...mismatched.map(
        (m) =>
          `config differs on: ${m.instance_id}` +
          (m.differing_keys ? ` (keys: ${m.differing_keys.join(', ') || 'none named'})` : ''),
      ),
      ...(this.duplicateOf
        ? [
            `another process (${this.duplicateOf.host} pid ${this.duplicateOf.pid}) uses instance_id ${this.self.instance_id}`,
          ]
        : []),
      ...(this.failure ? [`heartbeat not written: ${this.failure}`] : []),
    ];
    return {
      status: problems.length > 0 ? 'degraded' : 'up',
      fingerprint: this.self.fingerprint,
      // The per-key hashes stay out: differing_keys says what they would.
      instances: [{ ...this.self, self: true }, ...this.others].map((entry) => {
        const { boot_id: _boot, config_sections: _sections, ...info } = entry;
        const matches = entry.fingerprint === this.self.fingerprint;
        const keys = matches ? undefined : this.differingKeys(entry as InstanceInfo);
        return { ...info, config_matches: matches, ...(keys ? { differing_keys: keys } : {}) };
      }),
      ...(problems.length > 0 ? { problems } : {}),
    };
  }

  private logChanges(): void {
    const state = `${this.mismatched()
      .map((i) => `${i.instance_id}:${i.fingerprint}`)
      .join(',')}|${this.duplicateOf?.boot_id ?? ''}`;
    if (state === this.reported) return;
    this.reported = state;
    const mismatched = this.mismatchReport();
    if (mismatched.length > 0) {
      this.deps.logger.warn(
        { fingerprint: this.self.fingerprint, mismatched },
        'instances sharing this Redis run a different config',
      );
    }
    if (this.duplicateOf)
      this.deps.logger.error(
        { other_host: this.duplicateOf.host, other_pid: this.duplicateOf.pid },
        'another process uses the same instance_id',
      );
  }
}

function parse(value: unknown): InstanceInfo | undefined {
  if (typeof value !== 'string') return undefined;
  try {
    return JSON.parse(value) as InstanceInfo;
  } catch {
    return undefined;
  }
}
