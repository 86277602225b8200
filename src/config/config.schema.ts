/**
 * The one config schema: every key with its doc, type and default (the domains' keys in
 * `domain.schema.ts`, re-exported here). `config.yaml` and
 * `MB_*` environment variables are validated against it (see `config.ts`).
 *
 * Two types come out of it: the raw config (`RawBrokerConfig`: what the file says, with
 * its operator-facing "inherit" conventions) and the effective config (`BrokerConfig`:
 * what the broker runs with, every override resolved by `config-resolve.ts` right after
 * validation). Only the loader ever sees the raw one.
 */
import { bool, int, oneOf, str, strList, type ValueOf } from './config-fields.js';
import { recordMap } from './config-fields.js';
import type { RouteConfig } from './config-routes.js';
import { EMAIL_ADDRESS } from '../util/email-address.js';
import {
  parseClientOverride,
  type LimitOverride,
  type RawDomainConfig,
  type RawTargetConfig,
} from './domain.schema.js';

export {
  DEFAULT_TARGET_NAME,
  domainsField,
  parseDomain,
  ROUTING_KEY_PLACEHOLDERS,
  type LimitOverride,
  type RawDomainConfig,
  type RawNamedTargetConfig,
  type RawTargetConfig,
} from './domain.schema.js';

export const configShape = {
  instance_id: str('Name of this broker instance (consumer name in Redis); empty = hostname', '', { allowEmpty: true }),
  server: {
    host: str('Address the HTTPS front listens on', '0.0.0.0'),
    port: int('HTTPS port for the mTLS API and the portal', 8443, { min: 0, max: 65535 }),
    public_hostnames: strList('Names and IPs written into the server certificate', ['localhost', '127.0.0.1', '::1']),
    body_limit_bytes: int('Largest accepted request body', 16_384, { min: 1024 }),
    request_timeout_ms: int('A request must arrive completely within this time', 10_000, { min: 100 }),
    headers_timeout_ms: int(
      'The TLS handshake, and then the request line and headers, must each arrive within this time (slow clients are cut off); capped at request_timeout_ms',
      5_000,
      { min: 100 },
    ),
    keep_alive_timeout_ms: int('Idle keep-alive connections are closed after this', 65_000, { min: 100 }),
    connection_max_lifetime_ms: int(
      'A TLS connection is closed after this age (bounds a revoked identity)',
      3_600_000,
      { min: 1000 },
    ),
    max_connections: int(
      'TLS connections this broker holds in all (≈ 80 KB each); any beyond are closed at once',
      10_000,
      { min: 1 },
    ),
    max_connections_per_client: int(
      'TLS connections one client certificate (or, without one, one address) may hold; requests on any beyond are answered 429 TOO_MANY_CONNECTIONS',
      256,
      { min: 1 },
    ),
    tls_min_version: oneOf('Oldest TLS version accepted', 'TLSv1.2', ['TLSv1.2', 'TLSv1.3']),
    identity_cache_ms: int('How long a certificate → client lookup is cached', 60_000, { min: 0 }),
    identity_shared_cache_ms: int(
      'How long a resolved client identity stays in Redis, where every broker falls back to it while MySQL is away (new connections keep being accepted); 0 = not kept (a MySQL outage refuses new connections once identity_cache_ms has passed)',
      7 * 86_400_000,
      { min: 0, max: 30 * 86_400_000 },
    ),
    shutdown_grace_ms: int('How long in-flight requests get to finish on SIGTERM', 10_000, { min: 0 }),
    docs: bool('Serve the OpenAPI document (/docs/json) and Swagger UI (/docs), without a client certificate', true),
  },
  redis: {
    url: str('Redis connection URL', 'redis://127.0.0.1:6379'),
    key_prefix: str('Prefix of every Redis key', 'mb:'),
    command_timeout_ms: int('A Redis command that takes longer fails (and the message gets 503)', 2000, { min: 50 }),
    embedded: oneOf('Start our own redis-server under data/ when none answers (auto) or never', 'auto', [
      'auto',
      'never',
    ]),
    manage_persistence: bool(
      'Turn AOF on (CONFIG SET) when Redis has it off, and set maxmemory-policy noeviction when it evicts',
      true,
    ),
    max_backlog_bytes: int(
      'Refuse new messages (503 QUEUE_FULL) once Redis used_memory reaches this many bytes; 0 = no fixed limit',
      0,
      { min: 0 },
    ),
    max_memory_percent: int(
      "Refuse new messages (503 QUEUE_FULL) once Redis used_memory reaches this share of Redis' maxmemory (when it has one): the rest stays for delivery to store and acknowledge the backlog",
      90,
      { min: 1, max: 100 },
    ),
    sentinels: strList(
      'Redis Sentinel addresses (host:port); when set, the master is found through them and redis.url gives only user, password and db',
      [],
    ),
    sentinel_name: str('Name of the master the sentinels watch', 'mymaster'),
    sentinel_password: str('Password of the sentinels themselves, if they require one', '', { allowEmpty: true }),
    cluster_nodes: strList(
      'Redis Cluster seed nodes (host:port); when set, redis.url gives only user and password, and redis.key_prefix must hold a {hash tag}',
      [],
    ),
  },
  database: {
    url: str(
      'MySQL/MariaDB connection URL; the database is created if missing',
      'mysql://root@127.0.0.1:3306/message_broker',
    ),
    pool_size: int('Connections per pool', 10, { min: 1 }),
    query_silence_ms: int(
      'A query this long without a byte from MySQL is asked about: MySQL still running it ⇒ left alone; the connection idle or unknown there (a network partition, a host gone without a reset) ⇒ its session killed and the connection dropped, so the work is retried on a new one. 0 = never',
      10_000,
      { min: 0 },
    ),
    embedded: oneOf('Start our own mariadbd under data/ when none answers (auto) or never', 'auto', ['auto', 'never']),
  },
  queue: {
    fsync: oneOf('Redis AOF fsync policy the broker relies on', 'everysec', ['everysec', 'always']),
    max_batch: int('Most messages appended to Redis in one pipeline (group commit)', 512, { min: 1 }),
    entry_format: oneOf(
      'Stream entries, messages and status events alike: packed (one field each), or fields (what older brokers read)',
      'packed',
      ['packed', 'fields'],
    ),
    replicas: int(
      'Replicas that must hold an append before its 202 (WAIT, and WAITAOF on Redis ≥ 7.2, after each batch); fewer in time ⇒ 503 QUEUE_NOT_REPLICATED. 0 = answer once the master has it',
      0,
      { min: 0 },
    ),
    replicas_timeout_ms: int(
      'How long a batch waits for queue.replicas to acknowledge it; must stay below redis.command_timeout_ms',
      1000,
      { min: 1 },
    ),
    claim_idle_ms: int('Pending stream entries idle this long are reclaimed from a dead consumer', 30_000, {
      min: 100,
    }),
  },
  delivery: {
    concurrency: int(
      'Delivery attempts (webhook POSTs, amqp publishes) in flight at once, all such domains together (a hard cap; at least 35)',
      64,
      {
        min: 35,
      },
    ),
    held_attempts: int(
      'First attempts a webhook or amqp target holds in memory, stored and leased, while its delivery slots are all busy (more go on its Redis schedule); 0 = none',
      4096,
      { min: 0, max: 100_000 },
    ),
    batch_size: int('Stream entries read, encrypted and stored per batch', 500, { min: 1 }),
    store_concurrency: int('Store batches under way at once while the stream is deep', 2, { min: 1, max: 16 }),
    retry_interval_ms: int('Wait between delivery attempts', 30_000, { min: 10 }),
    max_attempts: int('Attempts before a message is failed and dead-lettered', 5, { min: 1 }),
    backoff: oneOf('Retry spacing: fixed interval or exponential with jitter', 'fixed', ['fixed', 'exponential']),
    webhook_timeout_ms: int('Timeout of one webhook POST', 10_000, { min: 10 }),
    poll_interval_ms: int('How often due retries are looked for', 250, { min: 10 }),
    breaker_failures: int("Consecutive failed attempts that open a downstream's circuit breaker", 5, { min: 1 }),
    breaker_open_ms: int(
      'How long an open breaker waits before one probe (doubling while probes fail, up to 10×)',
      30_000,
      { min: 10 },
    ),
  },
  actors: {
    young_generation_mb: int(
      "Most memory each thread's V8 young generation may take: each actor's (the idle CA actor's at most 4 MB), and the main thread's (the supervisor restarts itself in place with --max-semi-space-size of a third of it); V8's default lets the main thread's grow to 128 MB on a large host. 12 (was 16): 1,000 event sockets peak at 335–340 MB against 355–356, the store path 26–30 MB less, for +3 to +7 % broker CPU per message on the store path (V8's scavenges; docs/performance.md). 0 = V8's default",
      12,
      { min: 0 },
    ),
    old_generation_mb: int(
      "Each thread's V8 old generation at most this (actors' resourceLimits, the main thread's --max-old-space-size by the same in-place restart). With a limit of 256 MB or less V8 grows an old generation by 1.3× of what survived its last full GC instead of up to 4×: in the bench that is 40–70 MB less peak RSS for no measurable CPU. The threads live on 10–60 MB; an actor that reaches the limit is restarted, the main thread would stop. 0 = V8's default (about a sixth of the host's RAM)",
      256,
      { min: 0 },
    ),
    gc_threads: int(
      "V8's helper threads (node's --v8-pool-size), shared by the main thread and every actor for concurrent marking, parallel scavenges and background compiles; the supervisor restarts itself in place with it (your own --v8-pool-size wins). 0 = as many as the host has cores, at most 4 (Node's own default is 4 on any host: on two cores, four helpers marking one actor's heap took both cores for 20–50 ms and stalled every request in flight). On a two-core host 1 cuts the store path's p99 by 15–37 % for 25–40 MB more peak RSS on the webhook path (docs/performance.md)",
      0,
      { min: 0, max: 64 },
    ),
    batch_scheduling: bool(
      "Linux: the broker's threads run under SCHED_BATCH (the supervisor restarts itself in place through chrt; no privilege needed). A thread that wakes another — the front handing a turn's requests to the ingest actor, the ingest actor answering — then keeps its core until it waits, instead of being preempted by the thread it woke at every hand-off. Off: the kernel's default policy",
      true,
    ),
    idle_stop_ms: int(
      "The CA and encryption actors run on demand: each is stopped after this long without a request (CA: an issue, a renewal, a revocation, the PKI timer's maintenance when due; encryption: a webhook or amqp delivery, a portal page showing bodies, a sender search) and started again by the next one, which waits ≈ 0.3–1 s for it. On the store path neither is needed; idle, each would hold 15–30 MB of RSS. /health shows a parked actor `up` with state `idle`, which is not a fault. 0 = keep them running",
      30_000,
      { min: 0 },
    ),
  },
  secrets: {
    dir: str('Where the data keys and the HMAC pepper live (0700, files 0600)', 'data/secrets'),
    envelope_version: int(
      'Format new messages are sealed in: 2 = number and body in one AES-256-GCM envelope (half the cipher set-ups per message); 1 = two envelopes, as brokers before envelope v2 wrote. This version opens both; an older broker opens only 1, so keep 1 while one still runs against the same Redis and MySQL (a rolling upgrade), then set 2 and restart',
      2,
      { min: 1, max: 2 },
    ),
    reload_interval_ms: int(
      'How often the encryption actor checks the key files for a rotation (it also watches the directory)',
      2000,
      { min: 100 },
    ),
  },
  pki: {
    dir: str('CA, server and issued certificates', 'certs'),
    ca_key_passphrase_file: str(
      "A file holding the CA key's passphrase (read by the CA actor and mb only): when set, ca.key is written encrypted (PKCS#8, AES-256) and read with it; '' = ca.key unencrypted",
      '',
    ),
    ca_days: int('Validity of the CA certificate', 3650, { min: 1 }),
    client_days: int('Validity of an issued client certificate', 365, { min: 1 }),
    server_days: int('Validity of the server certificate (renewed automatically)', 397, { min: 1 }),
    crl_days: int('nextUpdate of the CRL, in days after it is signed', 7, { min: 1 }),
    check_interval_ms: int(
      'How often the CA re-signs a CRL past half its life and renews a server certificate near expiry, and the front re-reads certs/ for them',
      300_000,
      { min: 500 },
    ),
  },
  data: {
    dir: str('Run-time data: embedded Redis/MariaDB, secrets', 'data'),
  },
  retention: {
    days: int('Messages older than this many days are purged (domains may override); 0 = keep forever', 0, { min: 0 }),
    interval_ms: int('How often the retention purge runs (one broker at a time, under a Redis lock)', 3_600_000, {
      min: 1000,
    }),
    batch_size: int('Rows deleted per statement by the retention purge and mb purge', 1000, { min: 1 }),
  },
  log: {
    level: oneOf('pino log level', 'info', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    file: str(
      'Log file (JSON lines, besides stdout), relative to the working directory; rotated at midnight UTC to <name>.<yyyy-mm-dd>.log; empty = stdout only',
      'logs/broker.log',
      { allowEmpty: true },
    ),
    retention_days: int('Rotated log files older than this many days are deleted', 7, { min: 1 }),
  },
  metrics: {
    allow_loopback: bool(
      'Scrapes of /metrics from 127.0.0.1 or ::1 need no client certificate, and health details are shown to them',
      true,
    ),
    client_names: strList(
      'Full CNs (<name>.<domain>) of client certificates of our CA that may scrape /metrics and read health details; each domain must be configured with active: false (a domain that accepts messages cannot hold one)',
      [],
    ),
    actor_timeout_ms: int(
      'How long /metrics waits for each actor; an actor that does not answer is shown with its last numbers',
      1000,
      { min: 50 },
    ),
  },
  bootstrap: {
    demo_client: bool('On first start, issue a demo client certificate', true),
    demo_domain: str('Domain of the demo client', 'default'),
  },
  limits: {
    rate_limit: int(
      'API requests a client may make per window, shared by all instances (each message, batch item and status lookup counts one); 0 = no limit',
      100,
      { min: 0 },
    ),
    rate_window_ms: int('Length of the rate-limit window (fixed, starting at the first counted request)', 60_000, {
      min: 1000,
    }),
    daily_quota: int('Messages a client may queue per UTC day; 0 = no quota', 10_000, { min: 0 }),
    clients: recordMap(
      'Per-client overrides keyed by certificate CN (name.domain): rate_limit, rate_window_ms, daily_quota',
      {},
      parseClientOverride,
    ),
  },
  idempotency: {
    ttl_ms: int('How long an Idempotency-Key and the response it produced are remembered', 86_400_000, { min: 1000 }),
  },
  events: {
    retention_ms: int(
      "How long a client's status events stay in Redis (resume by last_event_id reaches back this far)",
      3_600_000,
      { min: 1000 },
    ),
    max_per_client: int('Most status events kept per client (oldest trimmed first)', 10_000, { min: 100 }),
    ws_max_buffered_bytes: int(
      'A WebSocket subscriber with more unsent bytes than this is cut off (close 4008: slow consumer)',
      1_048_576,
      { min: 1024 },
    ),
    ws_ping_interval_ms: int('Ping each WebSocket this often; one with no pong since the last ping is closed', 30_000, {
      min: 100,
    }),
    ws_max_subscribers: int('Most event WebSockets one broker serves at once', 5_000, { min: 1 }),
    ws_max_subscribers_per_client: int(
      "Most event WebSockets one client may hold open on one broker (so that one client cannot take every broker's ws_max_subscribers from the others)",
      100,
      { min: 1 },
    ),
    read_interval_ms: int('Least ms between two event reads that found events', 10, { min: 0, max: 1000 }),
    callback_timeout_ms: int('Timeout of one status callback POST', 5_000, { min: 100 }),
    callback_max_attempts: int('Attempts of one status callback before it is dead-lettered', 5, { min: 1 }),
    callback_retry_interval_ms: int(
      'Wait before a failed status callback is attempted again (at least callback_timeout_ms + 1 s: a POST under way is never repeated)',
      10_000,
      { min: 100 },
    ),
    callback_concurrency: int('Status callback POSTs in flight per broker', 16, { min: 1 }),
    callback_refresh_ms: int('How often the broker re-reads which clients have a callback URL', 5_000, { min: 100 }),
  },
  heartbeat: {
    interval_ms: int('How often this instance writes its heartbeat to Redis (it expires after 3 intervals)', 10_000, {
      min: 100,
    }),
  },
  portal: {
    enabled: bool('Serve the web portal under /portal', true),
    session_idle_minutes: int('A portal session ends after this long without a request (sliding)', 30, { min: 1 }),
    session_max_hours: int('A portal session ends this long after sign-in, however active', 12, { min: 1 }),
    login_max_failures: int('Failed sign-ins in a row that lock an account', 5, { min: 1 }),
    lockout_minutes: int('How long a locked account stays locked', 15, { min: 1 }),
    ip_max_failures: int('Failed sign-ins from one address per 15 minutes before it is throttled (429)', 20, {
      min: 1,
    }),
    scrypt_log_n: int(
      "scrypt cost of new password hashes, log2(N), r = 8: 17, 16, 15, 14, 13 are OWASP's equivalent settings with p = 1, 2, 3, 5, 10 (scrypt_p), 128, 64, 32, 16, 8 MiB of the broker's memory per hash (two at most at once). 15 (32 MiB) by default: at 17 the first start's admin hash was a bench's peak RSS; a hash that needs more memory or does less work than the setting is replaced at its next sign-in. Below 13 only in tests",
      15,
      { min: 10, max: 20 },
    ),
    scrypt_p: int(
      "scrypt parallelism of new password hashes; 0 = OWASP's for scrypt_log_n (1, 2, 3, 5, 10 for 17, 16, 15, 14, 13; 1 otherwise)",
      0,
      { min: 0, max: 16 },
    ),
    page_size: int('Rows per page in the portal lists', 50, { min: 5, max: 500 }),
    sender_search_limit: int(
      'Sender-number searches one portal user may run per window, all instances together (each one tells whether a typed number sent messages: unlimited, it recovers a masked number in seconds)',
      20,
      { min: 1 },
    ),
    sender_search_window_minutes: int(
      'Length of the sender-search window (fixed, starting with the first search counted)',
      60,
      { min: 1 },
    ),
    first_admin_email: str(
      'Superadmin created (with a printed random password) when the users table is empty',
      'admin@localhost',
      { pattern: EMAIL_ADDRESS },
    ),
  },
} as const;

/** The config as validated, before resolution: domain overrides still carry their inherit markers. */
export type RawBrokerConfig = ValueOf<typeof configShape> & { domains: RawDomainConfig[] };

type DeliveryDefaults = ValueOf<typeof configShape>['delivery'];

/**
 * A domain as the broker runs it: each setting that the file may leave to inherit holds
 * its effective value (the domain's own, else the global default), so no inherit marker
 * is left and a 0 means what its doc says ("no limit", "keep forever"), never "inherit".
 */
export type DomainConfig = Omit<
  RawDomainConfig,
  | 'target'
  | 'targets'
  | 'routes'
  | 'retry_interval_ms'
  | 'max_attempts'
  | 'backoff'
  | 'concurrency_share'
  | 'retention_days'
  | 'limits'
> & {
  /**
   * The domain's default target: the one its catch-all route names (else the one named
   * `default`, else the first). A stream entry written before routing (no target recorded)
   * goes to it. With the single `target:` of old, that target, named `default`.
   */
  target: TargetConfig;
  /** Every target of the domain, in the order of the file (one, `default`, with the single `target:`). */
  targets: TargetConfig[];
  /** The ordered routes; the single `target:` (or one named target) without routes has one default route. */
  routes: RouteConfig[];
  /** Wait between attempts: the domain's `retry_interval_ms`, else `delivery.retry_interval_ms`. */
  retry_interval_ms: number;
  /** Attempts before failed + dead letter: the domain's `max_attempts`, else `delivery.max_attempts`. */
  max_attempts: number;
  /** The domain's `backoff`, else `delivery.backoff`. */
  backoff: DeliveryDefaults['backoff'];
  /**
   * Delivery slots guaranteed to the domain's webhook targets together: the sum of their
   * `concurrency_share` (see TargetConfig); 0 for a domain with store targets only.
   */
  concurrency_share: number;
  /** Days its messages are kept: the domain's `retention_days`, else `retention.days`; 0 = forever. */
  retention_days: number;
  /** The client limits of this domain and of each of its clients that has its own entry. */
  limits: DomainLimits;
};

/** A target as the broker runs it: its name, and its delivery settings resolved. */
export type TargetConfig = RawTargetConfig & {
  name: string;
  /** Timeout of one POST: `timeout_ms`, else `delivery.webhook_timeout_ms`. */
  timeout_ms: number;
  /** The target's own `retry_interval_ms`, else its domain's, else `delivery.retry_interval_ms`. */
  retry_interval_ms: number;
  /** The target's own `max_attempts`, else its domain's, else `delivery.max_attempts`. */
  max_attempts: number;
  /** The target's own `backoff`, else its domain's, else `delivery.backoff`. */
  backoff: DeliveryDefaults['backoff'];
  /**
   * Delivery slots guaranteed to a webhook or amqp target (a minimum: it may use any free slot of
   * the shared `delivery.concurrency`): its own `concurrency_share`, else its domain's
   * (with the single `target:`), else an equal share of what the targets that set one
   * leave, at least min(35, concurrency / such targets). 0 for a store target, which
   * delivers by storing and takes no slot.
   */
  concurrency_share: number;
};

/** Effective limits of one client: each setting its own override, else its domain's, else `limits.*`. */
export type ClientLimitsConfig = { [K in keyof LimitOverride]: NonNullable<LimitOverride[K]> };

export type DomainLimits = ClientLimitsConfig & {
  /**
   * The clients of this domain that have an entry in `limits.clients`, keyed by CN, each
   * resolved over this domain's limits. A client without an entry has the domain's.
   */
  clients: Record<string, ClientLimitsConfig>;
};

/**
 * The effective config that `loadConfig()` returns and every consumer reads. It has no
 * `limits` section: limits are all about inheritance (client over domain over global),
 * so their effective values live in `domains[].limits` — and a reload that changes them
 * changes the domains, which apply live, as domain limits always did.
 */
export type BrokerConfig = Omit<ValueOf<typeof configShape>, 'limits'> & { domains: DomainConfig[] };
