/**
 * Stream → MySQL, in batches:
 *
 *   XREADGROUP (new, or own pending after a failure)
 *     → rows from the entries as they are: sealed by the ingest actor before the append
 *       (an entry of an older broker, in the clear, goes through the encryption actor)
 *     → one multi-row INSERT, idempotent on message_id          (one statement)
 *     → webhook/amqp targets: the first attempts go to the target's dispatcher with their
 *       rows (leased, started once acknowledged: no schedule, claim or row read), or on
 *       its schedule, ZADD NX (the target the front chose at submit, recorded in the entry)
 *     → XACK + XDEL + HDEL from the queued index                (one script call,
 *       + the status events of rows new in MySQL                  store-ack-n.lua)
 *         (stored; delivered for store targets)
 *
 * The ack comes last: a crash anywhere before it leaves the entries pending, they are
 * read again, and the idempotent insert makes the replay harmless (exactly once in MySQL).
 */
import type { Redis } from 'ioredis';
import type { BrokerConfig, DomainConfig, TargetConfig } from '../config/config.js';
import { deliversByAttempts } from '../config/config-resolve.js';
import { describeError } from '../db/database.js';
import type { MessagesRepository } from '../db/messages.repository.js';
import type { NewMessageRow } from '../db/schema.js';
import type { Logger } from '../logger.js';
import { targetKeys, type DomainKeys } from '../queue/keys.js';
import type { DeliverySchedule } from '../queue/schedule.js';
import { envelopeKeyId, toBuffer } from '../crypto/envelope.js';
import {
  ensureGroups,
  isPlaintextEntry,
  readEntries,
  reclaimStale,
  type PlaintextEntryFields,
  type StreamEntry,
} from '../queue/stream-reader.js';
import type { StreamEntryFields } from '../queue/stream-writer.js';
import type { RpcPeer } from '../rpc/rpc-peer.js';
import { acknowledgeStored, type StoredMessage } from '../queue/store-ack.js';
import type { EncryptionCalls } from '../actors/encryption/encryption.protocol.js';
import type { AttemptRow, FirstAttemptTaker } from './target-dispatcher.js';

export interface StorePipelineDeps {
  config: Readonly<BrokerConfig>;
  logger: Logger;
  /** A connection of its own: XREADGROUP BLOCK holds it. */
  blockingRedis: Redis;
  redis: Redis;
  messages: MessagesRepository;
  encryption: Pick<RpcPeer<EncryptionCalls>, 'call'>;
  schedule: DeliverySchedule;
  keysByDomain: ReadonlyMap<string, DomainKeys>;
  /**
   * Per lane (`domain/target`), the dispatcher that takes a fresh batch's first attempts
   * over with their rows; a lane without one (and every replayed batch) goes through the
   * schedule.
   */
  dispatchers?: ReadonlyMap<string, FirstAttemptTaker>;
  /** Per domain: rows new in MySQL, and how many of them are delivered by being stored. */
  onStored(byDomain: ReadonlyMap<string, { stored: number; delivered: number }>): void;
  /** A batch is stored and acknowledged. */
  onBatchDone(entries: number, seconds: number): void;
  onBatchFailed(): void;
}

/** How long one XREADGROUP waits for entries (its connection's socket timeout allows for it). */
export const BLOCK_MS = 1000;

/**
 * Whether the read loop waits for a batch under way before it reads again. Up to
 * `store_concurrency` batches overlap only while the stream is deep (the last read filled
 * a batch): a backlog is worked off with MySQL and sealing both busy. At a steady rate the
 * next read waits for the batch in MySQL instead, so what arrives meanwhile is stored as
 * one batch: fewer batches of 45–53 entries instead of 28–32 in the bench, and a batch's
 * fixed costs (the commit, the XREADGROUP, the acknowledgement script, the statements) are
 * paid less often — MariaDB's CPU per message −14–15 % and the delivery actor's −8 % in
 * the same-hour A/B (docs/performance.md), for 2–3 ms more storage lag. Own pending
 * entries (after a failure or at start) are re-read only with no batch under way: a batch
 * acked meanwhile would be stored a second time.
 */
export function mustWaitForBatch(state: {
  inFlight: number;
  maxInFlight: number;
  rereading: boolean;
  deep: boolean;
}): boolean {
  if (state.inFlight === 0) return false;
  return state.inFlight >= state.maxInFlight || state.rereading || !state.deep;
}

const MAX_BACKOFF_MS = 5000;

export class StorePipeline {
  private stopping = false;
  private loop: Promise<void> | undefined;
  private readonly domainByStream = new Map<string, string>();
  private lastReclaim = 0;
  private readonly warnedGoneTargets = new Set<string>();
  /** Since when store batches fail without one succeeding, and the last failure (log-safe). */
  private failing: { since: number; error: string } | undefined;

  constructor(private readonly deps: StorePipelineDeps) {
    for (const [domain, keys] of deps.keysByDomain) this.domainByStream.set(keys.stream, domain);
  }

  start(): void {
    this.loop = this.run();
  }

  /** Whether storing fails right now: since when (no batch stored since) and why; undefined while batches are stored. */
  storeFailure(): { since: Date; error: string } | undefined {
    return this.failing && { since: new Date(this.failing.since), error: this.failing.error };
  }

  /** Finishes the batch in hand, then stops reading. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.loop;
  }

  private async run(): Promise<void> {
    const { config, logger, blockingRedis } = this.deps;
    const streams = [...this.domainByStream.keys()];
    const maxInFlight = config.delivery.store_concurrency;
    // Batches overlap while the stream is deep: one is in MySQL while the next is read and
    // sealed. The ids of batches under way are skipped when own pending entries are re-read.
    const inFlight = new Set<Promise<void>>();
    // Whether the last read filled a batch (see mustWaitForBatch).
    let deep = false;
    const busy = new Set<string>();
    // Own pending entries first: what this consumer read before a crash is stored first.
    let pending = true;
    let failures = 0;
    let groupsReady = false;
    // Set when a read found the group gone at run time (not at the first start).
    let groupLost = false;
    const onFailure = async (error: unknown) => {
      failures++;
      pending = true;
      const delay = Math.min(100 * 2 ** Math.min(failures, 6), MAX_BACKOFF_MS);
      // The stream or group vanished (FLUSHALL, a restored Redis): make them again, and say
      // what it means once they are made (below) — "entries stay pending" would be untrue.
      // A read blocked on the stream when it went is answered "UNBLOCKED the stream key no
      // longer exists"; the next read, NOGROUP.
      if (/NOGROUP|UNBLOCKED the stream key no longer exists/.test(String((error as Error).message))) {
        groupsReady = false;
        groupLost = true;
      } else {
        const err = describeError(error);
        // Retried every 5 s at most for as long as it lasts: warned when it starts or its
        // cause changes, the retries in between at debug; "storing works again" ends it.
        const news = this.failing?.error !== err;
        this.failing = { since: this.failing?.since ?? Date.now(), error: err };
        if (news) logger.warn({ err, retry_in_ms: delay }, 'store batch failed; entries stay pending');
        else logger.debug({ err, retry_in_ms: delay, batches_failed: failures }, 'store batch failed again');
      }
      this.deps.onBatchFailed();
      await sleep(delay);
    };
    while (!this.stopping) {
      try {
        if (mustWaitForBatch({ inFlight: inFlight.size, maxInFlight, rereading: failures > 0 || pending, deep })) {
          await Promise.race(inFlight);
          continue;
        }
        if (!groupsReady) {
          const created = await ensureGroups(this.deps.redis, streams);
          groupsReady = true;
          if (groupLost && created.length > 0)
            logger.error(
              { domains: created.map((stream) => this.domainByStream.get(stream)) },
              'the delivery group was gone from Redis and is made again: Redis lost its data (restarted without its AOF, FLUSHALL, an empty replica promoted); messages accepted but not yet stored before that are lost',
            );
          groupLost = false;
        }
        if (Date.now() - this.lastReclaim > config.queue.claim_idle_ms / 2) {
          this.lastReclaim = Date.now();
          const { claimed, from } = await reclaimStale(
            this.deps.redis,
            config.instance_id,
            streams,
            config.queue.claim_idle_ms,
            config.delivery.batch_size,
          );
          // Claimed entries, and any of ours a failed batch left behind, are read next.
          pending = true;
          if (claimed > 0) logger.warn({ claimed, from }, 'reclaimed entries left pending by another consumer');
        }
        let entries = await readEntries(
          blockingRedis,
          config.instance_id,
          streams,
          config.delivery.batch_size,
          pending,
          BLOCK_MS,
        );
        deep = entries.length >= config.delivery.batch_size;
        if (pending) entries = entries.filter((e) => !busy.has(`${e.stream}/${e.id}`));
        if (entries.length === 0) {
          pending = false;
          continue;
        }
        const replay = pending;
        const ids = entries.map((e) => `${e.stream}/${e.id}`);
        for (const id of ids) busy.add(id);
        const task: Promise<void> = this.storeBatch(entries, replay)
          .then(() => {
            // The pair of the warnings above: whoever read them at 3 a.m. learns it is over.
            if (this.failing)
              logger.info(
                { failing_for_ms: Date.now() - this.failing.since, batches_failed: failures },
                'storing works again; the entries left pending are stored',
              );
            failures = 0;
            this.failing = undefined;
          }, onFailure)
          .finally(() => {
            inFlight.delete(task);
            for (const id of ids) busy.delete(id);
          });
        inFlight.add(task);
      } catch (error) {
        if (this.stopping) break;
        await onFailure(error);
      }
    }
    await Promise.all(inFlight);
  }

  /**
   * Every entry in its sealed form. Entries appended by an older broker hold the body and
   * number in the clear: those (and only those) are sealed here, one encryption round trip.
   */
  private async sealedFields(fields: Array<StreamEntryFields | PlaintextEntryFields>): Promise<StreamEntryFields[]> {
    const plaintext = fields.filter(isPlaintextEntry);
    if (plaintext.length === 0) return fields as StreamEntryFields[];
    const { items } = await this.deps.encryption.call('encryption.seal', {
      items: plaintext.map((f) => ({ message_id: f.m, sender_number: f.s, message_body: f.b })),
    });
    let next = 0;
    return fields.map((f) => {
      if (!isPlaintextEntry(f)) return f;
      const item = items[next++]!;
      return {
        m: f.m,
        c: f.c,
        n: f.n,
        md: f.md,
        q: f.q,
        rt: f.rt,
        tg: f.tg,
        rm: f.rm,
        be: toBuffer(item.body_enc),
        se: toBuffer(item.sender_enc),
        h: item.sender_hash,
        p: item.pepper_id,
        sm: item.sender_masked,
      };
    });
  }

  /**
   * The target an entry was routed to at submit. An entry of before routing names none:
   * its domain's default target. One whose target a reload has removed since goes to the
   * default target too (with a warning) rather than waiting for a target that is gone.
   */
  private targetOf(domainName: string, name: string): TargetConfig {
    const domain = this.domainConfig(domainName);
    if (name === '') return domain.target;
    const target = domain.targets.find((t) => t.name === name);
    if (target) return target;
    // Once per target and actor life (the actor restarts with each reload of the domains).
    const lane = `${domainName}/${name}`;
    if (!this.warnedGoneTargets.has(lane)) {
      this.warnedGoneTargets.add(lane);
      this.deps.logger.warn(
        { domain: domainName, target: name, instead: domain.target.name },
        "messages routed to a target that is no longer configured go to the domain's default target",
      );
    }
    return domain.target;
  }

  private domainConfig(name: string): DomainConfig {
    return this.deps.config.domains.find((d) => d.name === name)!;
  }

  /** `replay`: own pending entries, read again after a failure or a crash; some may be stored already. */
  private async storeBatch(entries: StreamEntry[], replay: boolean): Promise<void> {
    const { config, messages, schedule, keysByDomain } = this.deps;
    const started = performance.now();
    const byDomain = new Map<string, { stored: number; delivered: number }>();
    const stored: StoredMessage[] = [];
    let at = '';
    const starts: Array<() => void> = [];
    const valid = entries.filter(
      (e): e is StreamEntry & { fields: NonNullable<StreamEntry['fields']> } => e.fields !== null,
    );
    if (valid.length < entries.length) {
      this.deps.logger.warn(
        { count: entries.length - valid.length },
        'stream entries without a message (deleted or malformed) acknowledged',
      );
    }
    if (valid.length > 0) {
      const sealed = await this.sealedFields(valid.map((e) => e.fields));
      const now = new Date();
      at = now.toISOString();
      // Per "domain/target": the ids whose first attempt goes on that target's schedule.
      const dispatchedIds = new Map<string, { lane: string; keys: DomainKeys; ids: string[]; rows: AttemptRow[] }>();
      // Only replays can meet rows already stored; they must not be counted twice.
      const storedBefore = replay
        ? new Set((await messages.findByMessageIds(valid.map((e) => e.fields.m))).map((r) => r.message_id))
        : undefined;
      const rows: NewMessageRow[] = valid.map((entry, i) => {
        const fields = sealed[i]!;
        const domain = this.domainByStream.get(entry.stream)!;
        const target = this.targetOf(domain, fields.tg);
        const byAttempts = deliversByAttempts(target);
        let scheduled: { ids: string[]; rows: AttemptRow[] } | undefined;
        if (byAttempts) {
          const lane = `${domain}/${target.name}`;
          let forLane = dispatchedIds.get(lane);
          if (!forLane) {
            const keys = targetKeys(config.redis.key_prefix, this.domainConfig(domain), target.name);
            dispatchedIds.set(lane, (forLane = { lane, keys, ids: [], rows: [] }));
          }
          forLane.ids.push(fields.m);
          scheduled = forLane;
        }
        if (!storedBefore?.has(fields.m)) {
          const counts = byDomain.get(domain) ?? { stored: 0, delivered: 0 };
          counts.stored++;
          if (!byAttempts) counts.delivered++;
          byDomain.set(domain, counts);
          // A row a replay finds stored had its events with the first store: none again.
          stored.push({
            message_id: fields.m,
            client: Number(fields.c),
            client_id: `${fields.n}.${domain}`,
            domain,
            delivered: !byAttempts,
          });
        }
        const row = storedRow(fields, domain, target.name, byAttempts, now);
        // The client's CN as the clients table spells it: a client sends only in its own domain.
        scheduled?.rows.push({ ...row, client_cn: `${fields.n}.${domain}` });
        return row;
      });
      await messages.insertBatch(rows);
      // Counted once committed: a replay after a later failure finds them stored and skips them.
      this.deps.onStored(byDomain);
      try {
        for (const { lane, keys, ids, rows: laneRows } of dispatchedIds.values()) {
          // A replay's rows may be under way or settled already: only the schedule knows.
          const dispatcher = replay ? undefined : this.deps.dispatchers?.get(lane);
          if (dispatcher) starts.push(await dispatcher.takeFirstAttempts(laneRows, now.getTime()));
          else await schedule.scheduleNew(keys, ids, now.getTime());
        }
      } catch (error) {
        // Another lane failed: those leased already are stored, so they start (and hold
        // their slots only until they end); the batch is read again and stored as a replay.
        for (const start of starts.splice(0)) start();
        throw error;
      }
    }
    try {
      await acknowledgeStored(this.deps.redis, {
        prefix: config.redis.key_prefix,
        retention: config.events,
        queuedIndexOf: (stream) => keysByDomain.get(this.domainByStream.get(stream)!)!.queued,
        entries,
        stored,
        at,
        format: config.queue.entry_format,
      });
    } finally {
      // Leased and stored: they start even if the acknowledgement failed (a replay then
      // leaves leased ids alone).
      for (const start of starts) start();
    }
    this.deps.onBatchDone(entries.length, (performance.now() - started) / 1000);
  }
}

/**
 * The row of one stream entry, stored at `now`. For a `store` target being stored is the
 * delivery: delivered_at and created_at (the status' `stored_at`) are one timestamp, set
 * here rather than each by its own clock (the repository's would be read later).
 */
export function storedRow(fields: StreamEntryFields, domain: string, target: string, byAttempts: boolean, now: Date) {
  return {
    message_id: fields.m,
    client_id: Number(fields.c),
    domain,
    sender_hash: fields.h,
    pepper_id: fields.p,
    sender_masked: fields.sm,
    sender_enc: fields.se,
    body_enc: fields.be,
    key_id: envelopeKeyId(fields.be),
    metadata: fields.md === '' ? null : (JSON.parse(fields.md) as Record<string, unknown>),
    status: byAttempts ? 'queued' : 'delivered',
    attempt_count: byAttempts ? 0 : 1,
    queued_at: new Date(fields.q),
    delivered_at: byAttempts ? null : now,
    next_attempt_at: byAttempts ? now : null,
    created_at: now,
    target,
    route: fields.rt === '' ? null : fields.rt,
    route_match: fields.rt === '' ? null : fields.rm,
  } satisfies NewMessageRow;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
