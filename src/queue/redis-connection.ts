/**
 * ioredis connections, configured so that a Redis outage surfaces at once as an error
 * (→ 503 QUEUE_UNAVAILABLE) instead of queueing commands in memory and answering 202
 * for something that is not durable — and so that a connection to a Redis that stopped
 * answering is torn down and made again rather than waited on:
 *
 *   a blackhole (packets dropped, no RST)   socketTimeout: no byte back within the
 *   or a frozen master (SIGSTOP)            command timeout while a command is out ⇒ the
 *                                           socket is destroyed and ioredis reconnects
 *                                           (under Sentinel: asks the sentinels again)
 *   a promotion (+switch-master)            failoverDetector: ioredis subscribes to the
 *                                           sentinels and reconnects at once
 *   a demoted master (READONLY)             reconnectOnError: reconnect (via the sentinels)
 *
 * A connection is ready only when the node says role:master (ioredis checks that on every
 * connect under Sentinel), and `queue.replicas` (replica-wait.ts) refuses a 202 from a
 * master no replica follows — a deposed master that wakes up has none.
 */
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { BrokerConfig } from '../config/config.js';
import type { Logger } from '../logger.js';

export type RedisPurpose =
  | 'ingest'
  | 'delivery'
  | 'delivery-blocking'
  | 'events-blocking'
  | 'front'
  | 'subscriber'
  | 'cli'
  | 'ca';

export function createRedis(config: Readonly<BrokerConfig>, purpose: RedisPurpose, extra: RedisOptions = {}): Redis {
  const blocking = purpose === 'delivery-blocking' || purpose === 'events-blocking' || purpose === 'subscriber';
  const options: RedisOptions = {
    connectionName: `mb-${purpose}`,
    // RESP2: stream replies keep their classic nested-array shape (ioredis 6 defaults to
    // RESP3, which flattens XREADGROUP's map reply).
    protocol: 2,
    // Fail fast while disconnected: never hold a message in process memory "for later".
    enableOfflineQueue: purpose === 'subscriber',
    maxRetriesPerRequest: blocking ? null : 1,
    // Blocking reads (XREADGROUP BLOCK) would trip a command timeout.
    ...(blocking ? {} : { commandTimeout: config.redis.command_timeout_ms }),
    // Silence while a command is out: the connection is dead (a blackhole keeps the old
    // socket open forever, and it would come back holding stale state). The blocking
    // reader passes a longer one (its BLOCK time on top).
    socketTimeout: config.redis.command_timeout_ms,
    connectTimeout: 2 * config.redis.command_timeout_ms,
    // TCP keepalive finds an idle connection whose peer vanished (the subscriber sends
    // nothing for long stretches); socketTimeout is what catches it under traffic.
    keepAlive: 10_000,
    // A node that refuses writes as a replica: we are on a demoted master; reconnecting
    // asks the sentinels for the current one. (1 = reconnect, do not resend.)
    reconnectOnError: (error) => (/READONLY/.test(error.message) ? 1 : false),
    retryStrategy: (times) => Math.min(100 * times, 1000),
    lazyConnect: false,
    ...extra,
  };
  const redis = connect(config, options);
  rememberLastError(redis);
  if (purpose === 'subscriber') keepProbing(redis, config.redis.command_timeout_ms);
  return redis;
}

/** Each connection's last error (its 'error' event) until it is ready again: the cause of an outage. */
const lastErrors = new WeakMap<Redis, string>();

function rememberLastError(redis: Redis): void {
  redis.on('error', (error: Error) => lastErrors.set(redis, error.message));
  redis.on('ready', () => lastErrors.delete(redis));
}

/**
 * ioredis' words for "not connected", which name none of the cause: a command refused
 * while the connection is down (no offline queue) or cut off when it dropped.
 */
const NOT_CONNECTED = /Stream isn't writeable|Connection is closed|MaxRetriesPerRequest/i;

/**
 * The real cause behind a "not connected" failure of a command on `redis`
 * (`connect ECONNREFUSED 127.0.0.1:6390`), or undefined: for any other error, or while
 * the connection has reported none.
 */
export function notConnectedCause(redis: Redis, error: unknown): string | undefined {
  const message = error instanceof Error ? error.message : String(error);
  return NOT_CONNECTED.test(message) ? lastErrors.get(redis) : undefined;
}

/**
 * Logs once when a ready connection is lost, with its cause, and once when it is back: not
 * at each retry, which come every second for as long as Redis is away.
 * 'reconnecting' rather than 'close': a deliberate quit() closes without reconnecting.
 * A Redis that stops (shutdown, crash, failover) closes the connection without an error:
 * the line then waits for the first retry's error (`connect ECONNREFUSED …`), the cause an
 * operator can act on; a return before any retry failed says the connection was closed.
 */
export function logConnectionChanges(redis: Redis, logger: Logger): void {
  let lost = false;
  /** Lost without an error yet: the loss is logged with the next one. */
  let unexplained = false;
  // Retries before the first 'ready' are the start's own (a cluster's first slots refresh):
  // nothing was lost, and the start reports a Redis it cannot reach.
  let wasReady = redis.status === 'ready';
  const sayLost = (cause: string) => {
    unexplained = false;
    logger.warn({ err: cause }, 'redis connection lost');
  };
  redis.on('reconnecting', () => {
    if (lost || !wasReady) return;
    lost = true;
    const cause = lastErrors.get(redis);
    if (cause) sayLost(cause);
    else unexplained = true;
  });
  redis.on('error', (error: Error) => {
    if (unexplained) sayLost(error.message);
  });
  redis.on('ready', () => {
    wasReady = true;
    if (!lost) return;
    lost = false;
    if (unexplained) sayLost('connection closed by Redis or the network');
    logger.info('redis connection restored');
  });
}

/**
 * A subscriber sends nothing while it listens, so a blackhole would never trip its socket
 * timeout: a PING now and then (allowed while subscribed) makes a dead connection fail
 * and reconnect (ioredis resubscribes by itself).
 */
function keepProbing(redis: Redis, timeoutMs: number): void {
  const timer = setInterval(
    () => {
      if (redis.status === 'ready') redis.ping().catch(() => undefined);
    },
    Math.max(1000, 2 * timeoutMs),
  );
  timer.unref();
  redis.once('end', () => clearInterval(timer));
}

function connect(config: Readonly<BrokerConfig>, options: RedisOptions): Redis {
  const { sentinels, sentinel_name, sentinel_password, cluster_nodes } = config.redis;
  if (cluster_nodes.length > 0) return createCluster(config.redis.url, cluster_nodes, options);
  if (sentinels.length === 0) return new Redis(config.redis.url, options);
  // Sentinel: ioredis asks the sentinels for the current master and follows a failover.
  const redis = new Redis({
    ...credentialsOf(config.redis.url),
    ...options,
    sentinels: sentinels.map(parseAddress),
    name: sentinel_name,
    // Reconnect on the sentinels' +switch-master instead of waiting for the old master to
    // fail a command: a frozen old master fails nothing, it just hangs.
    failoverDetector: true,
    sentinelCommandTimeout: config.redis.command_timeout_ms,
    ...(sentinel_password ? { sentinelPassword: sentinel_password } : {}),
  });
  // ioredis 6 closes the failover detector's sentinel subscriptions on disconnect() but
  // not after quit(): they would keep a finished process (a CLI command, a stopping
  // actor) alive. disconnect() once ended closes them and nothing else.
  redis.once('end', () => redis.disconnect());
  return redis;
}

/**
 * A Cluster client typed as `Redis`: the broker uses only commands both share, and every
 * key it touches carries the prefix's hash tag (enforced by the config), so pipelines,
 * MULTI, Lua scripts and multi-stream XREADGROUP all land on one slot.
 */
function createCluster(url: string, nodes: readonly string[], options: RedisOptions): Redis {
  const { enableOfflineQueue, retryStrategy, ...nodeOptions } = options;
  const cluster = new Cluster(nodes.map(parseAddress), {
    redisOptions: { ...credentialsOf(url), ...nodeOptions },
    enableOfflineQueue: enableOfflineQueue ?? false,
    ...(retryStrategy ? { clusterRetryStrategy: (times: number) => retryStrategy(times) ?? null } : {}),
    scaleReads: 'master',
  });
  return cluster as unknown as Redis;
}

/** User, password, db and TLS from redis.url (its host is not used under Sentinel or Cluster). */
function credentialsOf(url: string): RedisOptions {
  const parsed = new URL(url);
  const db = Number(parsed.pathname.replace(/^\//, '') || 0);
  return {
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    ...(db > 0 ? { db } : {}),
    ...(parsed.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}

function parseAddress(address: string): { host: string; port: number } {
  const at = address.lastIndexOf(':');
  return { host: address.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(address.slice(at + 1)) };
}

export function isRedisDownError(error: unknown): boolean {
  const message = error instanceof Error ? error.message : String(error);
  return /Stream isn't writeable|Connection is closed|Command aborted|ECONNREFUSED|ECONNRESET|Command timed out|Socket timeout|MISCONF|READONLY|OOM|LOADING|MaxRetriesPerRequest/i.test(
    message,
  );
}

/**
 * The connection broke (or timed out) with the command possibly on the wire: Redis may
 * have executed it — "Command aborted" is ioredis' word for a pipeline command cut off
 * after earlier ones of the same pipeline were answered, so it was sent. Refusals
 * (MISCONF, READONLY, OOM, LOADING, a script's error) and a connection that was never
 * there (ECONNREFUSED, "Stream isn't writeable") are definite.
 */
export function isOutcomeUnknownError(error: unknown): boolean {
  const message = error instanceof Error ? error.message : String(error);
  return /Connection is closed|Command aborted|ECONNRESET|EPIPE|ETIMEDOUT|Command timed out|Socket timeout|MaxRetriesPerRequest/i.test(
    message,
  );
}

/** Resolves once the connection is ready (or after `timeoutMs`, ready or not: callers fail fast anyway). */
export function whenReady(redis: Redis, timeoutMs = 5000): Promise<boolean> {
  if (redis.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      redis.off('ready', onReady);
      resolve(false);
    }, timeoutMs);
    const onReady = () => {
      clearTimeout(timer);
      resolve(true);
    };
    redis.once('ready', onReady);
  });
}
