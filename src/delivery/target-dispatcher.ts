/**
 * Delivery to one target of one domain (a webhook or an amqp target; any DeliveryTransport):
 *
 *   schedule (ZSET, due time) ──claim-due (lease)──▶ MySQL rows ─┐
 *   store batch's first attempts, with their rows ──lease─────────┴─encryption.open──▶
 *   work queue (better-queue, a job per batch of attempts) ──transport.deliver──▶ outcomes,
 *   settled in batches:
 *     ok (2xx; amqp: confirmed) → delivered (MySQL), lease dropped
 *     retryable, not last → attempt_count+1, back on the schedule at now + interval
 *     terminal or last    → failed (MySQL) + dead-letter entry (a failed row claimed
 *                           again, its settle cut short, gets the entry it lacks)
 *   each settled batch's status events (delivered, retry_scheduled, failed) go in the
 *   same script call as the schedule's update (settle-n.lua; attempt-settler.ts)
 *
 * Each target of a domain has its own dispatcher — its own schedule, leases and dead
 * letters (keys.ts `targetKeys`), retry policy, breaker and slot share — so one unwell
 * downstream never holds up the domain's others. Slots come from the broker's
 * SlotAllocator, shared by every webhook and amqp target (at most `delivery.concurrency` attempts
 * in flight in all): only as many attempts are claimed as slots were taken, so a waiting
 * retry holds no slot. While nothing waits on its schedule, the first attempts of a store
 * batch skip it: the batch hands its rows over, leased before it is acknowledged, and
 * the attempts start without a claim or a row read (`takeFirstAttempts`); those beyond
 * the free slots are held in memory, leased the same way, up to `delivery.held_attempts`,
 * and start as slots free (held rows first, then the schedule's due attempts). A target
 * that finds no free slot declares how many attempts it has due (held or scheduled),
 * and slots freed elsewhere come to it in turn, its `concurrency_share` first. A circuit
 * breaker stops claiming while the downstream is unwell, `rate_per_s` paces a recovering
 * backlog, and `operational: false` pauses the domain: messages wait in Redis meanwhile.
 */
import { describeError } from '../db/database.js';
import { CircuitBreaker } from './circuit-breaker.js';
import { observeAttempt, UNDECRYPTABLE } from './delivery.metrics.js';
import { agedFrom, isExpired } from './retry-policy.js';
import type { DeliveryOutcome } from './delivery-transport.js';
import { WEBHOOK_PAYLOAD_VERSION } from './webhook-client.js';
import { createWorkQueue, type WorkQueue } from './work-queue.js';
import { AttemptSettler, type Attempt } from './attempt-settler.js';
import { HeldAttempts } from './held-attempts.js';
import type { AttemptRow, DispatcherDeps, DispatcherSnapshot, FirstAttemptTaker } from './target-dispatcher.types.js';

export type { AttemptRow, DispatcherDeps, DispatcherSnapshot, FirstAttemptTaker } from './target-dispatcher.types.js';

const SETTLE_EVERY_MS = 50;
/**
 * The outcome of an attempt the dispatcher stopped before it was sent (a reload or a
 * shutdown while its row was read or its envelope opened): no attempt was made, so it
 * is not settled as one — it goes back on the schedule, due now (see `stop`).
 */
const NOT_SENT: DeliveryOutcome = { ok: false, error: 'delivery stopped before the attempt was sent', retryable: true };
/**
 * How long slots reserved for this target gather before it claims them: attempts that end
 * within it share one claim (a script call, a row read, one `encryption.open`).
 */
const REFILL_AFTER_MS = 5;

export class TargetDispatcher implements FirstAttemptTaker {
  private readonly queue: WorkQueue<Attempt, DeliveryOutcome>;
  /** Aborted at stop: the transport starts no attempt after it. */
  private readonly stopped = new AbortController();
  private inQueue = 0;
  private timer: NodeJS.Timeout | undefined;
  private settleTimer: NodeJS.Timeout | undefined;
  private polling = false;
  /** Slots were reserved for it during a poll: look again when that poll ends. */
  private pollAgain = false;
  private refillTimer: NodeJS.Timeout | undefined;
  /** Slots held by handed-over first attempts not started yet (their envelopes being opened). */
  private handingOver = 0;
  /**
   * First attempts a store batch handed over beyond the free slots: stored, leased, and
   * waiting here for a slot (no schedule entry, claim or row read).
   */
  private readonly held: HeldAttempts<AttemptRow>;
  /** Attempts stopped before they were sent: given back to the schedule by `stop`. */
  private readonly unsent: string[] = [];
  /**
   * The last look at the schedule found nothing more due: only then do a store batch's
   * first attempts start at once, so that they never overtake attempts already waiting.
   */
  private scheduleClear = false;
  /**
   * Polls failed in a row (Redis away): the first is a warning, the rest debug lines until
   * one succeeds — a poll comes every poll_interval_ms, per target, for as long as it lasts.
   */
  private failedPolls = 0;
  private stopping = false;
  private readonly settler: AttemptSettler;
  private readonly breaker: CircuitBreaker;
  /** Token bucket for `rate_per_s`: refilled per poll, one second of burst at most. */
  private tokens = 0;
  private tokensAt = Date.now();

  constructor(private readonly deps: DispatcherDeps) {
    this.held = new HeldAttempts(deps.heldMax);
    this.settler = new AttemptSettler(deps);
    // A probe whose outcome never came (its attempt dropped on the way) stops blocking once
    // its lease would have expired: the attempt is made again then anyway.
    const probeTimeoutMs = deps.timeoutMs * 2 + 30_000;
    this.breaker = new CircuitBreaker(deps.breaker.failures, deps.breaker.openMs, probeTimeoutMs, (state) => {
      deps.logger.warn(
        {
          domain: deps.domain.name,
          target: deps.target.name,
          breaker: state,
          last_error: this.breaker?.snapshot().last_error,
        },
        'downstream circuit breaker changed',
      );
      deps.onBreakerChange(state);
    });
    this.queue = createWorkQueue<Attempt, DeliveryOutcome>(
      async (attempt) => {
        // Checked here, where the attempt would start: the work queue starts a job later
        // than it is queued, and a stop may come between.
        if (this.stopped.signal.aborted) return NOT_SENT;
        const started = performance.now();
        const outcome = await deps.transport.deliver(attempt.payload, this.stopped.signal, attempt.route);
        observeAttempt(deps.domain.name, deps.target.name, (performance.now() - started) / 1000);
        return outcome;
      },
      // The allocator is the limit: every attempt of a job holds a slot, so a job never waits here.
      { concurrency: deps.slots.limit },
    );
    // Slots freed while it had attempts due are its own until it claims them: at once,
    // not at the next poll, so that a backlog drains at the downstream's pace.
    deps.slots.onReserved(() => this.refillSoon());
    // RabbitMQ back (reconnected, alarm lifted): probe now, not when the open time ends.
    deps.transport.onRecovered?.(() => {
      if (this.breaker.recovered()) this.refillSoon();
    });
  }

  /** The most this domain may have in flight (every slot of the broker). */
  get slots(): number {
    return this.deps.slots.limit;
  }

  get guaranteedSlots(): number {
    return this.deps.slots.guaranteed;
  }

  get inFlight(): number {
    return this.inQueue + this.handingOver;
  }

  snapshot(): DispatcherSnapshot {
    return {
      domain: this.deps.domain.name,
      target: this.deps.target.name,
      operational: this.deps.domain.operational,
      slots: this.deps.slots.limit,
      guaranteed_slots: this.deps.slots.guaranteed,
      in_flight: this.inFlight,
      held: this.held.size,
      breaker: this.breaker.snapshot(),
    };
  }

  start(): void {
    // A first look at once: what is due is started, and an empty schedule lets the first
    // store batches hand their attempts over without waiting for the interval.
    void this.poll();
    this.timer = setInterval(() => void this.poll(), this.deps.pollIntervalMs);
    this.settleTimer = setInterval(() => void this.settler.flush(), SETTLE_EVERY_MS);
  }

  /** Stops claiming; attempts under way finish and are settled (or their leases expire). */
  async stop(): Promise<void> {
    this.stopping = true;
    this.stopped.abort();
    clearInterval(this.timer);
    clearTimeout(this.refillTimer);
    this.deps.slots.withdraw();
    // Back on the schedule, due now: the next holder (a restarted actor) starts them at
    // once instead of when their leases end.
    await this.giveBackHeld(this.held.takeAll());
    const deadline = Date.now() + this.deps.timeoutMs + 1000;
    // A poll under way may still be reading rows or opening envelopes: its attempts are
    // not in flight yet, and would start (and be stopped) after the look at `unsent`.
    while ((this.inFlight > 0 || this.polling) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await this.unleaseNow(this.unsent.splice(0), 'attempts stopped before they were sent');
    clearInterval(this.settleTimer);
    await this.settler.flush();
  }

  private refillSoon(): void {
    if (this.refillTimer || this.stopping) return;
    this.refillTimer = setTimeout(() => {
      this.refillTimer = undefined;
      void this.poll();
    }, REFILL_AFTER_MS);
  }

  private async poll(): Promise<void> {
    if (this.polling) {
      this.pollAgain = true;
      return;
    }
    this.pollAgain = false;
    const { slots } = this.deps;
    if (this.stopping || !this.deps.domain.operational) {
      slots.withdraw();
      await this.giveBackHeld(this.held.takeAll());
      return;
    }
    this.polling = true;
    try {
      // Held rows wait for a healthy downstream on the schedule, as any other attempt;
      // and none is held past half its lease (it would expire while waiting here).
      if (this.breaker.current !== 'closed') await this.giveBackHeld(this.held.takeAll());
      else await this.giveBackStaleHeld(Date.now());
      // Keep claiming while claims come back full and slots are given.
      for (;;) {
        const room = slots.limit - this.inFlight;
        const rate = this.rateAllowance();
        const limit = Math.min(this.breaker.allowance(room), rate);
        if (limit <= 0) {
          // Every slot is its own already: what is due waits for the next to be freed.
          if (room <= 0 && rate > 0 && this.breaker.current === 'closed') await this.declareDue(slots.limit);
          // Breaker open or rate spent: wait for no slot, and leave any reserved to others.
          else slots.withdraw();
          break;
        }
        const taken = slots.take(limit);
        if (taken === 0) {
          await this.declareDue(limit);
          break;
        }
        const probe = this.breaker.current === 'half_open';
        if (probe) this.breaker.probing();
        // Held rows first (stored before anything the schedule got since), then what is due.
        const fromHeld = this.startHeld(taken);
        const wanted = taken - fromHeld;
        const { claimed, started } = wanted > 0 ? await this.claimAndQueue(wanted) : { claimed: 0, started: 0 };
        // The probe went nowhere (nothing due yet, or only stale claims): without this the
        // breaker would wait for its outcome for good, and the target deliver nothing more.
        if (probe && fromHeld + started === 0) this.breaker.probeAborted();
        if (this.deps.domain.rate_per_s > 0) this.tokens -= fromHeld + claimed;
        if (wanted > 0) this.scheduleClear = claimed < wanted;
        if (claimed < wanted || this.breaker.current !== 'closed') break;
        if (taken < limit) {
          await this.declareDue(limit - taken);
          break;
        }
      }
      if (this.failedPolls > 0) {
        this.deps.logger.info(
          { domain: this.deps.domain.name, target: this.deps.target.name, failed_polls: this.failedPolls },
          'delivery poll recovered: attempts of this target start again',
        );
        this.failedPolls = 0;
      }
    } catch (error) {
      const fields = {
        domain: this.deps.domain.name,
        target: this.deps.target.name,
        err: this.deps.schedule.notConnectedCause(error) ?? describeError(error),
      };
      if (this.failedPolls++ === 0)
        this.deps.logger.warn(
          fields,
          'delivery poll failed: no attempt of this target starts until Redis answers; retried at each poll, logged again when it recovers',
        );
      else this.deps.logger.debug(fields, 'delivery poll failed again');
    } finally {
      this.polling = false;
      if (this.pollAgain) this.refillSoon();
    }
  }

  /** No slot for all that is due: say how much is (at most `most`), to be served in turn. */
  private async declareDue(most: number): Promise<void> {
    const scheduled = await this.deps.schedule.countDue(this.deps.keys, Date.now());
    if (scheduled > 0) this.scheduleClear = false;
    this.deps.slots.declare(Math.min(most, scheduled + this.held.size));
  }

  private rateAllowance(): number {
    const rate = this.deps.domain.rate_per_s;
    if (rate <= 0) return Number.POSITIVE_INFINITY;
    const now = Date.now();
    this.tokens = Math.min(rate, this.tokens + ((now - this.tokensAt) / 1000) * rate);
    this.tokensAt = now;
    return Math.floor(this.tokens);
  }

  /**
   * Claims up to `taken` due attempts and starts those still to send, each in one of the
   * `taken` slots; every other slot goes back (a POST gives back its own when it ends).
   * Returns how many ids were claimed.
   */
  /** Claims up to `taken` due attempts and starts them: how many were claimed, how many started. */
  private async claimAndQueue(taken: number): Promise<{ claimed: number; started: number }> {
    const { keys, schedule, slots } = this.deps;
    let unused = taken;
    let started = 0;
    try {
      const ids = await schedule.claimDue(keys, Date.now(), taken, this.leaseMs);
      // At once, before MySQL and decryption: another domain may be waiting for them.
      slots.release(taken - ids.length);
      unused = ids.length;
      started = await this.startAttempts(ids);
      return { claimed: ids.length, started };
    } finally {
      slots.release(unused - started);
    }
  }

  /** The lease outlives the POST timeout generously: only a dead broker lets it expire. */
  private get leaseMs(): number {
    return this.deps.timeoutMs * 2 + 30_000;
  }

  /**
   * First attempts of a store batch just committed to MySQL, handed over with their rows:
   * as many as this target may start now skip the schedule, its claim and the row read.
   * Those are leased before this returns — before the store batch is acknowledged, so a
   * crash from here on leaves a lease that expires and the attempt is made then. Those
   * beyond the free slots are leased the same way and held in memory, oldest first, up to
   * `heldMax`; only the rest go on the schedule. Only when the schedule had nothing more
   * due at the last look (`scheduleClear`), the breaker is closed and the domain
   * operational (and without `rate_per_s`: a paced target keeps its backlog on the
   * schedule). Returns what starts the leased ones and makes the held ones startable:
   * the store pipeline calls it once the batch is acknowledged, so that a message's
   * `stored` event precedes its outcome's.
   */
  async takeFirstAttempts(rows: readonly AttemptRow[], now: number): Promise<() => void> {
    const { keys, schedule, slots, policy } = this.deps;
    let taken = 0;
    const open =
      this.scheduleClear && !this.stopping && this.deps.domain.operational && this.breaker.current === 'closed';
    // Never ahead of rows already held: those start first, as slots free.
    if (open && this.held.empty) {
      const limit = Math.min(rows.length, slots.limit - this.inFlight, this.rateAllowance());
      if (limit > 0) taken = slots.take(limit);
    }
    // A rate-limited target paces from its schedule, and the rate is what bounds it.
    let room = open && this.deps.domain.rate_per_s <= 0 ? this.held.room : 0;
    const handed: AttemptRow[] = [];
    const toHold: AttemptRow[] = [];
    const rest: string[] = [];
    for (const row of rows) {
      if (isExpired(policy, agedFrom(row), now)) rest.push(row.message_id);
      else if (handed.length < taken) handed.push(row);
      else if (room > 0 && rest.length === 0) {
        toHold.push(row);
        room--;
      } else rest.push(row.message_id);
    }
    slots.release(taken - handed.length);
    if (this.deps.domain.rate_per_s > 0) this.tokens -= handed.length;
    this.handingOver += handed.length;
    // Counted at once: a store batch running beside this one sees them (the bound, the order).
    this.held.reserve(toHold.length);
    try {
      await schedule.lease(
        keys,
        [...handed, ...toHold].map((r) => r.message_id),
        now + this.leaseMs,
      );
      if (rest.length > 0) {
        this.scheduleClear = false;
        await schedule.scheduleNew(keys, rest, now);
        // Due now: a look soon claims what slots allow, and else says they wait for one.
        this.refillSoon();
      }
    } catch (error) {
      this.handingOver -= handed.length;
      this.held.cancel(toHold.length);
      slots.release(handed.length);
      throw error;
    }
    return () => {
      if (handed.length > 0) void this.startHandedOver(handed);
      if (toHold.length > 0) {
        // Stopped meanwhile: they go back on the schedule with the rest.
        if (this.stopping) {
          this.held.cancel(toHold.length);
          void this.giveBackHeld(toHold);
        } else {
          this.held.join(toHold, now);
          // Slots may be free by now (or soon): a look starts them, else says they wait for one.
          this.refillSoon();
        }
      }
    };
  }

  private async startHandedOver(rows: AttemptRow[], options: { checkLeases?: boolean } = {}): Promise<void> {
    let started = 0;
    try {
      let live = rows;
      if (options.checkLeases) {
        const leased = await this.deps.schedule.stillLeased(
          this.deps.keys,
          rows.map((r) => r.message_id),
        );
        live = rows.filter((_, i) => leased[i]);
      }
      started = await this.startRows(live);
    } catch (error) {
      this.deps.logger.warn(
        { domain: this.deps.domain.name, target: this.deps.target.name, err: describeError(error) },
        'starting first attempts failed; their leases will expire and they are attempted then',
      );
    } finally {
      this.handingOver -= rows.length;
      this.deps.slots.release(rows.length - started);
    }
  }

  /**
   * Starts up to `slots` held rows, each in one of the caller's taken slots; returns how
   * many rows it took (the slots of the rest stay the caller's). Each row starts only if
   * its lease still holds: a purge with `--include-pending` drops the lease of what it
   * erased.
   */
  private startHeld(slots: number): number {
    const now = Date.now();
    const taken = this.held.take(slots);
    const expired = taken.filter((row) => isExpired(this.deps.policy, agedFrom(row), now));
    const rows = expired.length === 0 ? taken : taken.filter((row) => !expired.includes(row));
    // Expired while held: the schedule's claim fails them (their row is read there). Their
    // slots go back; those no held row took stay the caller's, for the schedule.
    if (expired.length > 0) {
      void this.giveBackHeld(expired);
      this.deps.slots.release(expired.length);
    }
    if (rows.length === 0) return taken.length;
    this.handingOver += rows.length;
    void this.startHandedOver(rows, { checkLeases: true });
    return taken.length;
  }

  /** Held rows held for half their lease go back on the schedule, due now (the oldest are first). */
  private async giveBackStaleHeld(now: number): Promise<void> {
    await this.giveBackHeld(this.held.takeLeasedBy(now - this.leaseMs / 2));
  }

  /** Puts leased attempts this dispatcher will not start back on the schedule, due now. */
  private async giveBackHeld(rows: readonly AttemptRow[]): Promise<void> {
    await this.unleaseNow(
      rows.map((row) => row.message_id),
      'held first attempts',
    );
  }

  /** Puts leased attempts back on the schedule, due now; on failure their leases expire and they are made then. */
  private async unleaseNow(ids: readonly string[], what: string): Promise<void> {
    if (ids.length === 0) return;
    // Due on the schedule now: no store batch's first attempt may start ahead of them.
    this.scheduleClear = false;
    try {
      await this.deps.schedule.unlease(this.deps.keys, ids, Date.now());
    } catch (error) {
      this.deps.logger.warn(
        { domain: this.deps.domain.name, target: this.deps.target.name, err: describeError(error), count: ids.length },
        `giving ${what} back to the schedule failed; their leases will expire and they are attempted then`,
      );
    }
  }

  /** Reads the claimed ids' rows and starts those still to send; returns how many started (each holds a slot). */
  private async startAttempts(ids: string[]): Promise<number> {
    const { keys, schedule, messages } = this.deps;
    if (ids.length === 0) return 0;
    const rows = await messages.findForDelivery(ids);
    const now = Date.now();
    const expired = rows.filter((r) => r.status === 'queued' && isExpired(this.deps.policy, agedFrom(r), now));
    const queued = rows.filter((r) => r.status === 'queued' && !expired.includes(r));
    if (expired.length > 0)
      await this.settler.expire(
        expired.map((r) => ({
          message_id: r.message_id,
          attempts: r.attempt_count,
          client: r.client_id,
          client_id: r.client_cn,
        })),
      );
    // Failed, yet still leased: their settle did not reach Redis (dead letter, lease, event).
    await this.settler.settleFailedAgain(
      rows
        .filter((r) => r.status === 'failed')
        .map((r) => ({
          message_id: r.message_id,
          attempts: r.attempt_count,
          last_error: r.last_error,
          queued_at: r.queued_at,
          client: r.client_id,
          client_id: r.client_cn,
        })),
    );
    // Gone (purged) or delivered already (a replay after a crash): nothing to send.
    const stale = ids.filter((id) => !rows.some((r) => r.message_id === id && r.status !== 'delivered'));
    if (stale.length > 0) await schedule.settle(keys, stale, []);
    return this.startRows(queued);
  }

  /** Opens the rows' envelopes and starts their attempts; returns how many started (each holds a slot). */
  private async startRows(queued: readonly AttemptRow[]): Promise<number> {
    if (queued.length === 0) return 0;
    const { items } = await this.deps.encryption.call('encryption.open', {
      items: queued.map((r) => ({ message_id: r.message_id, body_enc: r.body_enc, sender_enc: r.sender_enc })),
    });
    const attempts: Attempt[] = [];
    queued.forEach((row, i) => {
      const opened = items[i];
      const attempt: Attempt = {
        id: row.message_id,
        client: row.client_id,
        payload: {
          payload_version: WEBHOOK_PAYLOAD_VERSION,
          message_id: row.message_id,
          client_id: row.client_cn,
          domain: row.domain,
          sender_number: opened?.ok ? (opened.sender_number ?? '') : '',
          message_body: opened?.ok ? opened.message_body : '',
          metadata: row.metadata ?? null,
          queued_at: row.queued_at.toISOString(),
          attempt: row.attempt_count + 1,
          target: row.target,
          route: row.route,
        },
        route: row.route === null ? {} : { route: row.route, match: row.route_match ?? '' },
        agedFrom: agedFrom(row),
      };
      // Undecryptable (lost key): retrying cannot help.
      if (opened?.ok) attempts.push(attempt);
      else this.settler.record(attempt, { ok: false, error: UNDECRYPTABLE, retryable: false });
    });
    this.inQueue += attempts.length;
    // One work-queue job for the batch; each attempt is settled, and gives its slot back, as it ends.
    this.queue.runEach(attempts, (attempt, result) => {
      const outcome: DeliveryOutcome = result.ok
        ? result.value
        : { ok: false, error: result.error.message, retryable: true };
      this.inQueue--;
      this.deps.slots.release(1);
      if (outcome === NOT_SENT) {
        this.unsent.push(attempt.id);
        return;
      }
      // A downstream that answers, even with a refusal of one message, is alive: a routing
      // key no queue is bound for must not stop the target's other routes' messages.
      if (outcome.ok || !outcome.retryable || outcome.answered) this.breaker.recordSuccess();
      else this.breaker.recordFailure(outcome.error);
      this.settler.record(attempt, outcome);
    });
    return attempts.length;
  }
}
