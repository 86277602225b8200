/**
 * The outcomes of one target's attempts, settled in batches (every 50 ms, by its
 * dispatcher): MySQL first (delivered; attempt failures with their next time or their
 * end), then Redis in one `settle-n` call — retries back on the schedule, leases dropped,
 * the status events (`delivered`, `retry_scheduled`, `failed`) appended — and dead letters
 * for the attempts that were the last. Expired attempts a claim finds go the same way, and
 * so do failed ones a claim finds still leased (a settle that Redis failed midway).
 */
import { describeError } from '../db/database.js';
import type { MessagesRepository } from '../db/messages.repository.js';
import type { StatusEventInput } from '../events/status-event.js';
import type { Logger } from '../logger.js';
import type { DomainKeys } from '../queue/keys.js';
import type { DeliverySchedule, SettleEvents } from '../queue/schedule.js';
import type { EventRetention } from '../queue/status-events.js';
import type { EntryFormat } from '../queue/stream-entry.types.js';
import { countAttempts, countDelivered, countFailure, failureReason } from './delivery.metrics.js';
import type { DeliveryOutcome, DeliveryPayload, DeliveryRoute } from './delivery-transport.js';
import { isExpired, isFinalAttempt, nextDelayMs, type RetryPolicy } from './retry-policy.js';

/** One attempt as sent: what its outcome is settled against. */
export interface Attempt {
  id: string;
  /** `clients.id`: names the client's event stream. */
  client: number;
  payload: DeliveryPayload;
  /** The route recorded at submit and what it matched (an amqp routing key's `{route}` / `{match}`). */
  route: DeliveryRoute;
  /** Where its age (`max_age_ms`) counts from: queued, or put back from the dead letters since. */
  agedFrom: Date;
}

interface Settled {
  attempt: Attempt;
  outcome: DeliveryOutcome;
}

export interface SettlerDeps {
  domain: { name: string };
  target: { name: string };
  keys: DomainKeys;
  policy: RetryPolicy;
  logger: Logger;
  messages: MessagesRepository;
  schedule: DeliverySchedule;
  events: { prefix: string; retention: EventRetention; format: EntryFormat };
  onOutcome(kind: 'delivered' | 'retry' | 'dead', count: number): void;
}

export class AttemptSettler {
  private settled: Settled[] = [];
  private settling: Promise<void> = Promise.resolve();

  constructor(private readonly deps: SettlerDeps) {}

  /** An attempt ended (or could not start: an undecryptable envelope). */
  record(attempt: Attempt, outcome: DeliveryOutcome): void {
    this.settled.push({ attempt, outcome });
  }

  /**
   * Fails attempts past the policy's maximum age (a claim found them when it read their
   * rows back): dead-lettered, with their `failed` events.
   */
  async expire(
    items: Array<{ message_id: string; attempts: number; client: number; client_id: string }>,
  ): Promise<void> {
    const error = `expired: older than ${this.deps.policy.maxAgeMs} ms`;
    const { keys, schedule, messages } = this.deps;
    const at = new Date().toISOString();
    const events = items.map(
      (i): StatusEventInput => ({
        ...this.eventOf(i.message_id, i.client, i.client_id, i.attempts, at),
        type: 'failed',
        error_class: 'expired',
      }),
    );
    await messages.expire(
      items.map((i) => i.message_id),
      error,
    );
    await schedule.deadLetter(
      keys,
      items.map((i) => ({ message_id: i.message_id, attempts: i.attempts, last_error: error })),
    );
    await schedule.settle(
      keys,
      items.map((i) => i.message_id),
      [],
      this.settleEvents(events),
    );
    this.deps.onOutcome('dead', items.length);
  }

  /**
   * Failed rows a claim found still leased: the settle that failed them did not reach
   * Redis, or only its dead-letter entry did (Redis failed after MySQL). Each gets the
   * entry it lacks — without one no redrive can reach it — and its `failed` event, and
   * leaves the schedule.
   */
  async settleFailedAgain(
    rows: ReadonlyArray<{
      message_id: string;
      attempts: number;
      last_error: string | null;
      queued_at: Date;
      client: number;
      client_id: string;
    }>,
  ): Promise<void> {
    if (rows.length === 0) return;
    const { keys, schedule, logger } = this.deps;
    const at = new Date().toISOString();
    // Entries are appended after their message was queued; the margin covers a Redis clock behind ours.
    const since = Math.min(...rows.map((r) => r.queued_at.getTime())) - 10 * 60_000;
    const restored = await schedule.deadLetterMissing(
      keys,
      rows.map((r) => ({ message_id: r.message_id, attempts: r.attempts, last_error: r.last_error ?? '' })),
      since,
    );
    const events = rows.map(
      (r): StatusEventInput => ({
        ...this.eventOf(r.message_id, r.client, r.client_id, r.attempts, at),
        type: 'failed',
      }),
    );
    await schedule.settle(
      keys,
      rows.map((r) => r.message_id),
      [],
      this.settleEvents(events),
    );
    if (restored.length > 0) {
      this.deps.onOutcome('dead', restored.length);
      logger.warn(
        { domain: this.deps.domain.name, target: this.deps.target.name, message_ids: restored },
        'failed messages found without their dead-letter entry; dead-lettered now',
      );
    }
  }

  /** Settles what has ended since the last flush; batches one after another. */
  flush(): Promise<void> {
    // Settle batches one after another so MySQL and Redis see them in order.
    this.settling = this.settling
      .then(() => this.settleBatch())
      .catch((error: unknown) => {
        this.deps.logger.warn(
          { domain: this.deps.domain.name, target: this.deps.target.name, err: describeError(error) },
          'settling delivery outcomes failed; leases will expire and retry',
        );
      });
    return this.settling;
  }

  private async settleBatch(): Promise<void> {
    if (this.settled.length === 0) return;
    const batch = this.settled.splice(0);
    const { keys, schedule, messages, policy } = this.deps;
    const now = Date.now();
    const delivered = batch.filter((s) => s.outcome.ok).map((s) => s.attempt.id);
    const failures = batch.filter(
      (s): s is Settled & { outcome: Extract<DeliveryOutcome, { ok: false }> } => !s.outcome.ok,
    );
    const retry: Array<{ id: string; dueAt: number }> = [];
    const dead: Array<{ message_id: string; attempts: number; last_error: string }> = [];
    const at = new Date(now).toISOString();
    const eventOf = ({ attempt }: Settled) =>
      this.eventOf(attempt.id, attempt.client, attempt.payload.client_id, attempt.payload.attempt, at);
    const events: StatusEventInput[] = batch
      .filter((s) => s.outcome.ok)
      .map((s) => ({ ...eventOf(s), type: 'delivered' }));
    const records = failures.map((settled) => {
      const { attempt, outcome } = settled;
      const errorClass = failureReason(outcome);
      const attempts = attempt.payload.attempt;
      const final = !outcome.retryable || isFinalAttempt(policy, attempts) || isExpired(policy, attempt.agedFrom, now);
      const error = outcome.error.slice(0, 500);
      if (final) {
        dead.push({ message_id: attempt.id, attempts, last_error: error });
        events.push({ ...eventOf(settled), type: 'failed', error_class: errorClass });
        return { message_id: attempt.id, error, final, next_attempt_at: null };
      }
      const dueAt = now + nextDelayMs(policy, attempts, outcome.retryAfterMs);
      retry.push({ id: attempt.id, dueAt });
      events.push({
        ...eventOf(settled),
        type: 'retry_scheduled',
        next_attempt_at: new Date(dueAt).toISOString(),
        error_class: errorClass,
      });
      return { message_id: attempt.id, error, final, next_attempt_at: new Date(dueAt) };
    });
    // MySQL first: if Redis then fails, the lease expires and the attempt is repeated,
    // which the downstream sees as a duplicate with the same message_id (at-least-once);
    // a row failed meanwhile is not attempted again but dead-lettered then, if its entry is
    // missing (`settleFailedAgain`).
    // Rows that became delivered now: a repeated attempt (lease expired) is not counted twice.
    const newlyDelivered = delivered.length > 0 ? await messages.recordAttemptSuccess(delivered, new Date(now)) : 0;
    if (records.length > 0) await messages.recordAttemptFailures(records);
    // Counted as soon as MySQL has it: if the actor dies before Redis is settled, the
    // repeated attempt finds the row delivered already and would never count it.
    const domain = this.deps.domain.name;
    const target = this.deps.target.name;
    countDelivered(domain, newlyDelivered);
    countAttempts(domain, target, 'delivered', delivered.length);
    for (const failure of failures) countFailure(domain, target, failure.outcome);
    await schedule.deadLetter(keys, dead);
    await schedule.settle(keys, [...delivered, ...dead.map((d) => d.message_id)], retry, this.settleEvents(events));
    countAttempts(domain, target, 'retry', retry.length);
    countAttempts(domain, target, 'dead', dead.length);
    if (delivered.length > 0) this.deps.onOutcome('delivered', delivered.length);
    if (retry.length > 0) this.deps.onOutcome('retry', retry.length);
    if (dead.length > 0) {
      this.deps.onOutcome('dead', dead.length);
      this.deps.logger.warn({ domain, target, message_ids: dead.map((d) => d.message_id) }, 'messages dead-lettered');
    }
  }

  private eventOf(
    messageId: string,
    client: number,
    clientId: string,
    attempt: number,
    at: string,
  ): Omit<StatusEventInput, 'type'> {
    return { message_id: messageId, client, client_id: clientId, domain: this.deps.domain.name, attempt, at };
  }

  private settleEvents(list: readonly StatusEventInput[]): SettleEvents {
    const { prefix, retention, format } = this.deps.events;
    return { prefix, retention, format, list };
  }
}
