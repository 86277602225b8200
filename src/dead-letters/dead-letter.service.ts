/**
 * Dead letters of a domain's target (each target has its own; none named = the domain's
 * default target, its only one unless it routes) (the stream the webhook dispatcher writes when a message has
 * used its attempts; see `DeliverySchedule.deadLetter`): reading them, and putting them
 * back on the schedule. The only place that does either; used by the CLI and the portal.
 *
 * Two ways back, both MySQL first (the dispatcher skips ids whose row is not `queued`, so
 * a schedule entry without its row flipped would be dropped unattempted):
 *
 * - `retry` (the portal's per-entry Retry): one more attempt. The row goes failed → queued
 *   (its attempt count kept), then ZADD NX to the schedule and XDEL of the entry in one
 *   MULTI, so the entry never vanishes without the attempt being scheduled. If the MULTI
 *   fails the row is set back to failed: it must not claim "queued" when nothing will
 *   attempt it. A crash between the two leaves the row queued and the entry listed; a
 *   redrive of that message finishes the job (it schedules the id whatever the row says).
 * - `redrive` (CLI, portal's Redrive all): a fresh set of attempts (attempt_count 0). Per
 *   batch, rows, then the schedule and the entries' removal in one MULTI; each step is
 *   idempotent, so a redrive cut short by a crash is simply run again.
 *
 * Both first claim the entries they put back (claim-dead-letters-2.lua): a second redrive
 * or retry running at the same time (two admins, the CLI beside the portal) skips what the
 * first holds, instead of scheduling again a message the dispatcher had already claimed —
 * which sent it twice at once. The claims of a crashed holder expire (CLAIM_HOLD_MS).
 *
 * Both publish a `requeued` status event for each message put back (its client's stream,
 * in the same MULTI or pipeline as the schedule): a subscriber that saw `failed` learns
 * that more attempts come, before their outcome.
 *
 * Both are audited here rather than by their callers, so the CLI and the portal record
 * the same action with the same details, and only once the step has taken effect.
 */
import type { ChainableCommander, Redis } from 'ioredis';
import type { LiveConfig } from '../config/live-config.js';
import type { AuditRepository } from '../db/audit.repository.js';
import type { MessagesRepository } from '../db/messages.repository.js';
import type { DeliveryRow } from '../db/messages.repository.js';
import { BrokerError } from '../errors.js';
import type { StatusEventInput } from '../events/status-event.js';
import { claimDeadLetters, releaseDeadLetterClaims } from '../queue/dead-letter-stream.js';
import { targetKeys, type DomainKeys } from '../queue/keys.js';
import { addStatusEvents } from '../queue/status-events.js';

export interface DeadLetter {
  /** Stream entry id (`<ms>-<seq>`). */
  entry_id: string;
  message_id: string;
  attempts: number;
  last_error: string;
  /** ISO time the message was dead-lettered. */
  dead_at: string;
}

export interface DeadLetterPage {
  /** Newest first. */
  entries: DeadLetter[];
  /** Older entries exist beyond this page. */
  more: boolean;
}

export interface RedriveResult {
  requeued: number;
  /** Dead-letter entries removed (including stale ones whose message was already settled). */
  removed: number;
}

/** A stream entry id's shape; anything else given as a page cursor or entry id is ignored. */
export const STREAM_ID = /^\d{1,20}-\d{1,20}$/;
const U64_MAX = 2n ** 64n - 1n;

/**
 * The parts of a stream entry id Redis accepts, or undefined: twenty digits reach past
 * 2^64−1, and Redis refuses such an id with an error (a 500) instead of matching nothing.
 */
export function parseStreamId(value: string): { ms: bigint; seq: bigint } | undefined {
  if (!STREAM_ID.test(value)) return undefined;
  const [ms, seq] = value.split('-').map(BigInt) as [bigint, bigint];
  return ms <= U64_MAX && seq <= U64_MAX ? { ms, seq } : undefined;
}

const DEFAULT_PAGE_SIZE = 100;
const REDRIVE_BATCH = 500;
/**
 * How long a redrive or retry holds the dead letters it claimed: far longer than one
 * batch takes (a row read, an update, a MULTI); only a crashed holder's claims run out.
 */
const CLAIM_HOLD_MS = 5 * 60_000;

export class DeadLetterService {
  constructor(
    /** Read at every call: the portal outlives a reload that may change the domains. */
    private readonly config: LiveConfig,
    private readonly redis: Redis,
    private readonly messages: MessagesRepository,
    private readonly audit: AuditRepository,
  ) {}

  /** Newest first; `before` (an entry id, exclusive) pages back. */
  async page(
    domain: string,
    options: { limit?: number; before?: string; target?: string } = {},
  ): Promise<DeadLetterPage> {
    const limit = options.limit ?? DEFAULT_PAGE_SIZE;
    const before = options.before === undefined ? undefined : parseStreamId(options.before);
    // Nothing is older than 0-0 (and Redis refuses the exclusive "(0-0" as an end).
    if (before && before.ms === 0n && before.seq === 0n) return { entries: [], more: false };
    const end = before ? `(${before.ms}-${before.seq}` : '+';
    // One more than asked tells whether an older page exists.
    const raw = await this.redis.xrevrange(this.keysOf(domain, options.target).dead, end, '-', 'COUNT', limit + 1);
    const entries = raw.map(toDeadLetter);
    return { entries: entries.slice(0, limit), more: entries.length > limit };
  }

  async find(domain: string, entryId: string, target?: string): Promise<DeadLetter | undefined> {
    return this.entryAt(this.keysOf(domain, target), entryId);
  }

  async count(domain: string, target?: string): Promise<number> {
    return this.redis.xlen(this.keysOf(domain, target).dead);
  }

  /** One more attempt for the message of one dead-letter entry, due now. Returns the entry retried. */
  async retry(domain: string, entryId: string, actor: string, ip?: string, target?: string): Promise<DeadLetter> {
    const keys = this.keysOf(domain, target);
    const entry = await this.entryAt(keys, entryId);
    if (!entry) throw new BrokerError('NOT_FOUND', 'There is no such dead letter (retried already?)');
    if (!(await claimDeadLetters(this.redis, keys, [entry], CLAIM_HOLD_MS)).has(entry.entry_id))
      throw new BrokerError('CONFLICT', 'That dead letter is being retried or redriven right now');
    try {
      const now = new Date();
      const [row] = await this.messages.findForDelivery([entry.message_id]);
      if (!(await this.messages.requeueFailed(entry.message_id, now)))
        throw new BrokerError('CONFLICT', 'That message is not failed any more: it was retried or delivered already');
      // The row was failed (requeueFailed says so): its attempts are kept by a retry.
      const events = row ? [requeuedEvent(row, domain, row.attempt_count, now)] : [];
      try {
        await this.scheduleAndDrop(keys, entry, now.getTime(), events);
      } catch {
        await this.messages.restoreFailed(entry.message_id);
        throw new BrokerError('QUEUE_UNAVAILABLE', 'The retry could not be scheduled; try again');
      }
    } catch (error) {
      await releaseDeadLetterClaims(this.redis, keys, [entry.message_id]).catch(() => {});
      throw error;
    }
    await this.audit.record({
      actor,
      action: 'message.retry',
      target_type: 'message',
      target_id: entry.message_id,
      domain,
      ...(ip ? { ip } : {}),
      details: { dead_letter: entry.entry_id, attempts: entry.attempts },
    });
    return entry;
  }

  /**
   * Redrives the named messages, or every dead letter of the domain when `messageIds` is
   * 'all'. Only the entries it claims are put back: those another redrive or retry running
   * at the same time claimed first are left to it (and not counted here).
   */
  async redrive(
    domain: string,
    messageIds: string[] | 'all',
    actor: string,
    ip?: string,
    target?: string,
  ): Promise<RedriveResult> {
    const keys = this.keysOf(domain, target);
    const entries = (await this.redis.xrange(keys.dead, '-', '+')).map(toDeadLetter);
    const chosen = messageIds === 'all' ? entries : entries.filter((e) => messageIds.includes(e.message_id));
    if (messageIds !== 'all' && chosen.length === 0)
      throw new BrokerError('NOT_FOUND', 'No such dead letter in this domain');
    // By message: every entry of one message goes in the same batch (one claim, one MULTI).
    const byMessage = new Map<string, DeadLetter[]>();
    for (const entry of chosen) byMessage.set(entry.message_id, [...(byMessage.get(entry.message_id) ?? []), entry]);
    const ids = [...byMessage.keys()];
    const now = Date.now();
    let requeued = 0;
    let removed = 0;
    for (let i = 0; i < ids.length; i += REDRIVE_BATCH) {
      const batch = ids.slice(i, i + REDRIVE_BATCH).flatMap((id) => byMessage.get(id)!);
      const done = await this.redriveBatch(keys, domain, batch, now);
      requeued += done.requeued;
      removed += done.removed;
    }
    await this.audit.record({
      actor,
      action: 'dead_letter.redrive',
      target_type: 'domain',
      target_id: domain,
      domain,
      ...(ip ? { ip } : {}),
      details: { requested: messageIds === 'all' ? 'all' : messageIds.length, requeued, removed },
    });
    return { requeued, removed };
  }

  /**
   * Claims the batch's entries, then puts back the messages of those it claimed: rows,
   * then the schedule, the entries' removal, the claims' and the events in one MULTI (a
   * message is scheduled if and only if its entries go). A batch that fails midway keeps
   * its entries listed and releases its claims: running the redrive again finishes it.
   */
  private async redriveBatch(
    keys: DomainKeys,
    domain: string,
    entries: readonly DeadLetter[],
    now: number,
  ): Promise<RedriveResult> {
    const claimed = await claimDeadLetters(this.redis, keys, entries, CLAIM_HOLD_MS);
    const mine = entries.filter((e) => claimed.has(e.entry_id));
    if (mine.length === 0) return { requeued: 0, removed: 0 };
    const ids = [...new Set(mine.map((e) => e.message_id))];
    try {
      // Read before the update: a failed row starts again at 0 attempts; a queued one (a retry
      // cut short by a crash) keeps its count; a delivered one is skipped by the dispatcher
      // and gets no event.
      const rows = (await this.messages.findForDelivery(ids)).filter((row) => row.status !== 'delivered');
      const requeued = await this.messages.requeue(ids, new Date(now));
      const args: Array<string | number> = [];
      for (const id of ids) args.push(now, id);
      const multi = this.redis
        .multi()
        .zadd(keys.schedule, 'NX', ...args)
        .xdel(keys.dead, ...mine.map((e) => e.entry_id))
        .zrem(keys.redriving, ...ids);
      this.addEvents(
        multi,
        rows.map((row) => requeuedEvent(row, domain, row.status === 'failed' ? 0 : row.attempt_count, new Date(now))),
      );
      const replies = await multi.exec();
      const failed = replies?.find(([error]) => error);
      if (!replies || failed) throw failed?.[0] ?? new Error('MULTI was discarded');
      return { requeued, removed: Number(replies[1]?.[1] ?? 0) };
    } catch (error) {
      await releaseDeadLetterClaims(this.redis, keys, ids).catch(() => {});
      throw error;
    }
  }

  private async entryAt(keys: DomainKeys, entryId: string): Promise<DeadLetter | undefined> {
    const id = parseStreamId(entryId);
    if (!id) return undefined;
    const raw = await this.redis.xrange(keys.dead, `${id.ms}-${id.seq}`, `${id.ms}-${id.seq}`);
    return raw[0] ? toDeadLetter(raw[0]) : undefined;
  }

  /** ZADD NX + XDEL (+ the claim's end, the event) in one MULTI: the entry is gone only if the attempt is scheduled. */
  private async scheduleAndDrop(
    keys: DomainKeys,
    entry: DeadLetter,
    dueAt: number,
    events: readonly StatusEventInput[],
  ): Promise<void> {
    const multi = this.redis
      .multi()
      .zadd(keys.schedule, 'NX', dueAt, entry.message_id)
      .xdel(keys.dead, entry.entry_id)
      .zrem(keys.redriving, entry.message_id);
    this.addEvents(multi, events);
    const replies = await multi.exec();
    const failed = replies?.find(([error]) => error);
    if (!replies || failed) throw failed?.[0] ?? new Error('MULTI was discarded');
  }

  private addEvents(multi: ChainableCommander, events: readonly StatusEventInput[]): void {
    const config = this.config.current();
    addStatusEvents(multi, config.redis.key_prefix, config.events, events, { format: config.queue.entry_format });
  }

  /** A target's keys; no target named = the domain's default target (its only one, mostly). */
  private keysOf(domain: string, target?: string): DomainKeys {
    const config = this.config.current();
    const found = config.domains.find((d) => d.name === domain);
    if (!found) throw new BrokerError('UNKNOWN_DOMAIN', `Domain ${domain} is not configured`);
    const name = target ?? found.target.name;
    if (!found.targets.some((t) => t.name === name))
      throw new BrokerError('NOT_FOUND', `Domain ${domain} has no target ${name}`);
    return targetKeys(config.redis.key_prefix, found, name);
  }
}

/** Fields as `DeliverySchedule.deadLetter` writes them: m(essage), a(ttempts), e(rror), t(ime). */
function toDeadLetter([entryId, flat]: [string, string[]]): DeadLetter {
  const fields = new Map<string, string>();
  for (let i = 0; i + 1 < flat.length; i += 2) fields.set(flat[i]!, flat[i + 1]!);
  return {
    entry_id: entryId,
    message_id: fields.get('m') ?? '',
    attempts: Number(fields.get('a') ?? 0),
    last_error: fields.get('e') ?? '',
    // An entry without `t` still has its time: the id's first half is the append's ms.
    dead_at: fields.get('t') ?? new Date(Number(entryId.split('-')[0])).toISOString(),
  };
}

/** The `requeued` event of a message put back on the schedule. */
function requeuedEvent(row: DeliveryRow, domain: string, attempt: number, at: Date): StatusEventInput {
  return {
    type: 'requeued',
    message_id: row.message_id,
    client: row.client_id,
    client_id: row.client_cn,
    domain,
    attempt,
    at: at.toISOString(),
  };
}
