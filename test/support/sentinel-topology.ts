/**
 * A real Sentinel set-up on loopback ports around a test-owned master: two replicas (so
 * that after a promotion the new master still has one to confirm `queue.replicas: 1`) and
 * one sentinel (quorum 1, a master is down after `downAfterMs` without an answer).
 */
import { TestSentinel } from './redis-sentinel.js';
import { TestRedisServer } from './redis-server.js';

export class SentinelTopology {
  private constructor(
    readonly master: TestRedisServer,
    readonly replicas: TestRedisServer[],
    readonly sentinel: TestSentinel,
  ) {}

  static async create(master: TestRedisServer, downAfterMs = 2000): Promise<SentinelTopology> {
    const replicas: TestRedisServer[] = [];
    try {
      for (let i = 0; i < 2; i++) replicas.push(await TestRedisServer.replicaOf(master));
      const sentinel = await TestSentinel.create(master.port, 'mymaster', downAfterMs);
      const topology = new SentinelTopology(master, replicas, sentinel);
      await sentinel.waitForReplicas(replicas.length);
      return topology;
    } catch (error) {
      await Promise.all(replicas.map((r) => r.destroy()));
      throw error;
    }
  }

  /** The broker's config for it: the master only through the sentinel. */
  get redisValues(): Record<string, unknown> {
    return { url: 'redis://127.0.0.1:1', sentinels: [this.sentinel.address], sentinel_name: 'mymaster' };
  }

  /** The URL of the node the sentinel names master now (the original one until a promotion). */
  async masterUrl(): Promise<string> {
    const port = (await this.sentinel.masterPort().catch(() => null)) ?? this.master.port;
    return `redis://127.0.0.1:${port}`;
  }

  /** Waits until the sentinel names another master than the original one; resolves with the time it saw that. */
  async waitForPromotion(timeoutMs = 60_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const port = await this.sentinel.masterPort().catch(() => null);
      if (port !== null && port !== this.master.port) return Date.now();
      if (Date.now() > deadline) throw new Error('the sentinel promoted no replica in time');
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** The sentinel and the replicas (the master belongs to whoever made it). */
  async destroy(): Promise<void> {
    await this.sentinel.destroy();
    await Promise.all(this.replicas.map((r) => r.destroy()));
  }
}
