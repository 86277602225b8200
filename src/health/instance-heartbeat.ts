/**
 * Each broker instance announces itself in the shared Redis: `instanceKey` holds its
 * version, start time and config fingerprint with a TTL of three intervals, and the
 * `instancesIndexKey` sorted set lists who beat recently. Every beat also reads the
 * others, so health and the gauge `mb_config_fingerprint_mismatch` show instances whose
 * configuration differs from this one's (they would disagree on limits, domains, retry
 * policy…), naming the keys that differ from per-key hashes (never values), and two
 * processes that share an instance_id (and so a consumer name).
 *
 * Each heartbeat also carries the instance's secret fingerprints (data keys, peppers, CA;
 * never the secrets): every beat compares all live instances' with the installation's
 * record in the database, and health and `mb_secret_mismatch_instances` name an instance
 * holding a key that is not the installation's (secret-mismatch.ts).
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import { Gauge, type Registry } from 'prom-client';
import { differingConfigKeys } from '../config/config-fingerprint.js';
import type { KeyIdsReport } from '../crypto/crypto.types.js';
import type { SecretFingerprint } from '../db/secret-fingerprints.repository.js';
import type { Logger } from '../logger.js';
import { instanceKey, instancesIndexKey } from '../queue/keys.js';
import { notConnectedCause } from '../queue/redis-connection.js';
import { withTimeout } from './health.service.js';
import type { ComponentStatus } from './health.types.js';
import { secretMismatches, type SecretMismatch } from './secret-mismatch.js';

/** How long a beat waits for the database's record of secret fingerprints. */
const DATABASE_TIMEOUT_MS = 2000;

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
  keys?: Omit<KeyIdsReport, 'fingerprints'>;
  /** Fingerprints of the keys, peppers and CA this instance holds (never the secrets). Absent from older brokers. */
  secrets?: SecretFingerprint[];
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
  /** This instance's CA certificate, fingerprinted (a CA change needs a restart). */
  caFingerprint?: SecretFingerprint;
  /** The installation's record (`secret_fingerprints`); without it nothing is compared. */
  installationSecrets?: () => Promise<SecretFingerprint[]>;
  /** Records fingerprints not known yet (a key file copied in while running). */
  recordSecrets?: (held: readonly SecretFingerprint[]) => Promise<void>;
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
  private readonly secretMismatchGauge: Gauge;
  private installation: SecretFingerprint[] | undefined;
  private recordedSignature = '';
  private secretMismatch: SecretMismatch[] = [];
  private reportedSecrets = '';

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
    this.secretMismatchGauge = new Gauge({
      name: 'mb_secret_mismatch_instances',
      help: "Live instances (this one included) holding a data key, pepper or CA that differs from the installation's record (0 = all match)",
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
    this.deps.redis.on('ready', this.beatAfterOutage);
  }

  /**
   * Redis back after a beat failed: beat now. Until the next interval (10 s) the health's
   * `instances` component still named the outage's error, though Redis answered again.
   */
  private readonly beatAfterOutage = (): void => {
    if (this.failure !== undefined) void this.beat();
  };

  /** Stops beating and withdraws this instance at once (others stop counting it). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.deps.redis.off('ready', this.beatAfterOutage);
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
    const report = await this.deps.keys?.().catch(() => undefined);
    // The ids stay under `keys` (mb keys reads them); the fingerprints go beside the CA's.
    const { fingerprints, ...keys } = report ?? { fingerprints: undefined };
    const held = [...(fingerprints ?? []), ...(this.deps.caFingerprint ? [this.deps.caFingerprint] : [])];
    const announced = { ...(report ? { keys } : {}), ...(held.length > 0 ? { secrets: held } : {}) };
    try {
      const replies =
        (await redis
          .pipeline()
          .call(
            'SET',
            instanceKey(prefix, instanceId),
            JSON.stringify({ ...this.self, seen_at: new Date(now).toISOString(), ...announced }),
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
      this.duplicateOf =
        previous && previous.boot_id !== this.self.boot_id && !this.goneFromThisHost(previous) ? previous : undefined;
      const ids = ((replies[3]?.[1] as string[]) ?? []).filter((id) => id !== instanceId);
      const values = ids.length > 0 ? await redis.mget(ids.map((id) => instanceKey(prefix, id))) : [];
      this.others = values.map(parse).filter((info): info is InstanceInfo => info !== undefined);
      this.failure = undefined;
    } catch (error) {
      // The outage's cause (connect ECONNREFUSED …), not ioredis' "Stream isn't writeable".
      this.failure = notConnectedCause(redis, error) ?? (error as Error).message;
    }
    await this.compareSecrets(held);
    this.mismatchGauge.set(this.mismatched().length);
    this.liveGauge.set(this.others.length + 1);
    this.secretMismatchGauge.set(this.secretMismatch.length);
    this.logChanges();
  }

  /**
   * A heartbeat left by a process of this host that no longer runs: this one's predecessor
   * under the same instance_id, killed (kill -9, OOM) before it could remove its key, and
   * restarted by systemd — not a second broker. Its key would otherwise read as a duplicate
   * (an error log and degraded health) until it expired.
   */
  private goneFromThisHost(previous: InstanceInfo): boolean {
    if (previous.host !== this.self.host) return false;
    if (previous.pid === process.pid) return true; // its pid, reused by this process
    try {
      process.kill(previous.pid, 0);
      return false;
    } catch (error) {
      // EPERM: a process of another user runs under that pid — perhaps a broker.
      return (error as NodeJS.ErrnoException).code === 'ESRCH';
    }
  }

  /** Live instances (this one included) whose keys, peppers or CA are not the installation's. */
  secretMismatches(): SecretMismatch[] {
    return this.secretMismatch;
  }

  private async compareSecrets(held: SecretFingerprint[]): Promise<void> {
    if (!this.deps.installationSecrets) return;
    try {
      const signature = held.map((h) => `${h.kind}/${h.secret_id}/${h.fingerprint}`).join();
      // MySQL hanging must not hold the beat (Redis is what the heartbeat is about).
      if (this.deps.recordSecrets && held.length > 0 && signature !== this.recordedSignature) {
        await withTimeout(this.deps.recordSecrets(held), DATABASE_TIMEOUT_MS);
        this.recordedSignature = signature;
      }
      this.installation = await withTimeout(this.deps.installationSecrets(), DATABASE_TIMEOUT_MS);
    } catch {
      // MySQL away: compare with the last record read (the record only ever grows).
    }
    const self = { instance_id: this.self.instance_id, host: this.self.host, secrets: held };
    this.secretMismatch = secretMismatches([self, ...this.others], this.installation ?? []);
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
      ...this.secretMismatch.map(
        (m) =>
          `${m.instance_id} (${m.host}) holds ${m.secrets.join(', ')} not the installation's: its rows cannot be read by the others; copy data/secrets and the CA from a running host to it and restart it`,
      ),
      ...(this.failure ? [`heartbeat not written: ${this.failure}`] : []),
    ];
    return {
      status: problems.length > 0 ? 'degraded' : 'up',
      fingerprint: this.self.fingerprint,
      // The per-key hashes stay out: differing_keys says what they would.
      instances: [{ ...this.self, self: true }, ...this.others].map((entry) => {
        const { boot_id: _boot, config_sections: _sections, secrets: _secrets, ...info } = entry as InstanceInfo;
        const matches = entry.fingerprint === this.self.fingerprint;
        const keys = matches ? undefined : this.differingKeys(entry as InstanceInfo);
        const secrets = this.secretMismatch.find((m) => m.instance_id === entry.instance_id)?.secrets;
        return {
          ...info,
          config_matches: matches,
          ...(keys ? { differing_keys: keys } : {}),
          ...(secrets ? { secrets_match: false, differing_secrets: secrets } : {}),
        };
      }),
      ...(problems.length > 0 ? { problems } : {}),
    };
  }

  private logChanges(): void {
    const secrets = JSON.stringify(this.secretMismatch);
    if (secrets !== this.reportedSecrets) {
      this.reportedSecrets = secrets;
      if (this.secretMismatch.length > 0)
        this.deps.logger.error(
          { mismatched: this.secretMismatch },
          "instances hold data keys, peppers or a CA that are not the installation's: rows they write cannot be read by the others",
        );
    }
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
