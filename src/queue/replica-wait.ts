/**
 * `queue.replicas`: a batch is answered 202 only once that many replicas hold it. Redis
 * replication is asynchronous, so an append the master acknowledged can vanish in a
 * failover (the promoted replica never had it). `WAIT n timeout`, sent on the same
 * connection right after the batch's scripts (one pipeline: one round trip per batch),
 * blocks until n replicas have acknowledged every write this connection made so far.
 * Redis ≥ 7.2 has `WAITAOF numlocal numreplicas timeout`, which also waits for the
 * replicas to have written it to their AOF: used where the master offers it (the version
 * is read again on every (re)connect, as a failover may land on another version).
 */
import type { ChainableCommander, Redis } from 'ioredis';

export class ReplicaWait {
  /** Does the master we are connected to know WAITAOF (Redis ≥ 7.2)? */
  private waitAof = false;

  constructor(
    private readonly redis: Redis,
    readonly replicas: number,
    private readonly timeoutMs: number,
  ) {
    if (replicas > 0) {
      redis.on('ready', () => void this.readVersion());
      if (redis.status === 'ready') void this.readVersion();
    }
  }

  /** Nothing to wait for with `queue.replicas: 0`. */
  get enabled(): boolean {
    return this.replicas > 0;
  }

  /** Queues the wait after the batch's appends. */
  add(pipeline: ChainableCommander): void {
    // numlocal 0: the master's own fsync stays what queue.fsync chose (appendfsync).
    if (this.waitAof) pipeline.call('WAITAOF', 0, this.replicas, this.timeoutMs);
    else pipeline.call('WAIT', this.replicas, this.timeoutMs);
  }

  /** How many replicas acknowledged, from the reply of the command `add` queued. */
  acknowledged(reply: unknown): number {
    // WAIT: an integer; WAITAOF: [local fsynced, replicas fsynced].
    return Array.isArray(reply) ? Number(reply[1] ?? 0) : Number(reply ?? 0);
  }

  private async readVersion(): Promise<void> {
    try {
      this.waitAof = supportsWaitAof(await this.redis.info('server'));
    } catch {
      // Not answering now: keep what we knew; WAIT works on every version.
    }
  }
}

/** True for `redis_version` 7.2 or later (WAITAOF). */
export function supportsWaitAof(info: string): boolean {
  const version = /^redis_version:(\d+)\.(\d+)/m.exec(info);
  if (!version) return false;
  const [major, minor] = [Number(version[1]), Number(version[2])];
  return major > 7 || (major === 7 && minor >= 2);
}

/**
 * From `INFO` (its replication section): why `queue.replicas` cannot be met right now —
 * fewer replicas online than it asks for — or undefined when it can. The writability
 * watch turns this into a refusal before anything is appended, and into "not ready", so
 * a batch does not wait `replicas_timeout_ms` for replicas that are not there.
 */
export function replicaShortfall(info: string, wanted: number): string | undefined {
  // A replica is reported as such (role:slave) by the watch itself.
  if (wanted <= 0 || /^role:slave/m.test(info)) return undefined;
  const online = [...info.matchAll(/^slave\d+:.*\bstate=online\b/gm)].length;
  if (online >= wanted) return undefined;
  return `Redis has ${online} replica(s) online and queue.replicas asks for ${wanted}: no append could be confirmed`;
}
