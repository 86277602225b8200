/**
 * Status callbacks, in the delivery actor of every broker:
 *
 *   MySQL (clients with a callback URL, or in a domain with a default) ──refresh──▶ targets
 *   <prefix>events:client:<id> ──XREADGROUP callbacks (one consumer per broker)──▶ POST ──2xx──▶ XACK
 *                                        │ failed: stays pending        4xx / last attempt ──▶ dead letter
 *                                        └──XPENDING IDLE retry_interval + XCLAIM──▶ POST again
 *
 * Apart from message delivery in all it holds: its own Redis connections, its own HTTP
 * agents, its own slots (`events.callback_concurrency`), a breaker per URL, its own dead
 * letters (`<prefix>events:callbacks:dead`). A failing receiver delays no message.
 * Each event is POSTed by one broker at a time (consumer group), acknowledged once
 * answered: a receiver sees an event id twice only when an answer was lost.
 */
import type { Redis } from 'ioredis';
import type { Logger } from '../logger.js';
import { CircuitBreaker } from '../delivery/circuit-breaker.js';
import {
  acknowledgeCallback,
  claimOverdue,
  clientsWithMessageCallbacks,
  deadLetterCallback,
  ensureCallbackGroup,
  holdBackCallback,
  messageCallbackUrl,
  readNewCallbacks,
  type CallbackEntry,
} from '../queue/status-callbacks.js';
import { CallbackClient, type CallbackTarget } from './callback-client.js';
import { callbackHost } from './callback-url.js';
import { countCallbackAttempt } from './events.metrics.js';
import { describeError } from '../db/database.js';

export interface CallbackSettings {
  callback_timeout_ms: number;
  callback_max_attempts: number;
  callback_retry_interval_ms: number;
  callback_concurrency: number;
  callback_refresh_ms: number;
}

export interface CallbackDispatcherDeps {
  redis: Redis;
  /** XREADGROUP BLOCK holds it. */
  blocking: Redis;
  prefix: string;
  /** This broker's consumer name. */
  consumer: string;
  settings: CallbackSettings;
  logger: Logger;
  /**
   * Clients (`clients.id`) with where their events go, given the clients that named a
   * per-message callback URL lately (their target's `url` may be '': per-message only).
   */
  loadTargets(withMessageCallbacks: readonly number[]): Promise<Map<number, CallbackTarget>>;
  breaker: { failures: number; openMs: number };
}

const BLOCK_MS = 250;

export class CallbackDispatcher {
  private targets = new Map<number, CallbackTarget>();
  private readonly breakers = new Map<string, CircuitBreaker>();
  private readonly client: CallbackClient;
  private running = false;
  private refreshFailing = false;
  private inFlight = 0;
  /** A retry pass is under way (it may outlast its tick while a backlog drains). */
  private retrying = false;
  private readonly loops: Array<Promise<void>> = [];
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(private readonly deps: CallbackDispatcherDeps) {
    this.client = new CallbackClient(deps.settings.callback_timeout_ms, deps.settings.callback_concurrency);
  }

  async start(): Promise<void> {
    this.running = true;
    await this.refresh();
    const { settings } = this.deps;
    this.timers.push(setInterval(() => void this.refresh(), settings.callback_refresh_ms));
    this.timers.push(
      setInterval(() => void this.retryOverdue(), Math.max(50, settings.callback_retry_interval_ms / 2)),
    );
    this.loops.push(this.readLoop());
  }

  async stop(): Promise<void> {
    this.running = false;
    for (const timer of this.timers) clearInterval(timer);
    await Promise.all(this.loops);
    const deadline = Date.now() + this.deps.settings.callback_timeout_ms + 500;
    while (this.inFlight > 0 && Date.now() < deadline) await sleep(20);
    await this.client.close();
  }

  private async refresh(): Promise<void> {
    try {
      const next = await this.deps.loadTargets(await clientsWithMessageCallbacks(this.deps.redis, this.deps.prefix));
      for (const client of next.keys())
        if (!this.targets.has(client)) await ensureCallbackGroup(this.deps.redis, this.deps.prefix, client);
      this.targets = next;
      this.refreshFailing = false;
    } catch (error) {
      // Once per outage: MySQL or Redis away is reported by health and by delivery already.
      if (!this.refreshFailing)
        this.deps.logger.warn({ err: describeError(error) }, 'could not refresh status callback targets');
      this.refreshFailing = true;
    }
  }

  private async readLoop(): Promise<void> {
    const { blocking, prefix, consumer, logger } = this.deps;
    let failures = 0;
    while (this.running) {
      const free = this.deps.settings.callback_concurrency - this.inFlight;
      const clients = [...this.targets.keys()].filter((c) => this.mayPost(this.targets.get(c)!));
      if (free <= 0 || clients.length === 0) {
        await sleep(free <= 0 ? 20 : BLOCK_MS);
        continue;
      }
      try {
        const entries = await readNewCallbacks(blocking, prefix, consumer, clients, free, BLOCK_MS);
        failures = 0;
        for (const entry of entries) void this.send(entry);
      } catch (error) {
        if (!this.running) break;
        // A stream that expired took its group along: make the groups again.
        if (String((error as Error).message).includes('NOGROUP'))
          for (const client of clients)
            await ensureCallbackGroup(this.deps.redis, prefix, client).catch(() => undefined);
        if (failures++ % 30 === 0) logger.warn({ err: (error as Error).message }, 'reading status callbacks failed');
        await sleep(Math.min(100 * 2 ** Math.min(failures, 5), 2000));
      }
    }
  }

  /**
   * Pending entries whose POST failed (or whose broker died): claimed and sent again, as
   * slots free up until none is overdue — not one slotful per tick, which retried a
   * receiver's backlog at `callback_concurrency` per half interval (16 per 5 s at the
   * defaults) whatever it could take. Only those idle longer than a POST can take: one
   * still under way (here or on another broker) must not be sent twice.
   */
  private async retryOverdue(): Promise<void> {
    if (this.retrying) return;
    this.retrying = true;
    try {
      // Round robin: each round gives every client with overdue entries a share of the free
      // slots, and rounds go on while any client filled its share, so one client's backlog
      // never holds up another's retries.
      let clients = [...this.targets.keys()];
      while (this.running && clients.length > 0) {
        const more: number[] = [];
        for (const client of clients) {
          const target = this.targets.get(client);
          if (!target || !this.mayPost(target)) continue;
          const free = await this.freeSlots();
          if (free === 0) return;
          const share = Math.max(1, Math.floor(free / clients.length));
          if ((await this.retryClient(client, share)) === share) more.push(client);
        }
        clients = more;
      }
    } finally {
      this.retrying = false;
    }
  }

  /** Free callback slots, once there is one (0 once stopping). */
  private async freeSlots(): Promise<number> {
    while (this.running) {
      const free = this.deps.settings.callback_concurrency - this.inFlight;
      if (free > 0) return free;
      await sleep(20);
    }
    return 0;
  }

  /**
   * Up to `count` of a client's overdue entries, claimed and sent; returns how many. Each
   * claim resets the entries' idle time, so one under way is never claimed twice.
   */
  private async retryClient(client: number, count: number): Promise<number> {
    const { redis, prefix, consumer, settings } = this.deps;
    const idleMs = Math.max(settings.callback_retry_interval_ms, settings.callback_timeout_ms + 1000);
    try {
      const entries = await claimOverdue(redis, prefix, consumer, client, idleMs, count);
      for (const entry of entries) void this.send(entry);
      return entries.length;
    } catch (error) {
      if (!String((error as Error).message).includes('NOGROUP'))
        this.deps.logger.warn({ err: (error as Error).message }, 'claiming status callbacks failed');
      return 0;
    }
  }

  /** Per-message URLs are checked per event (a breaker each, too). */
  private mayPost(target: CallbackTarget): boolean {
    return target.url === '' || this.breakerOf(target.url).allowance(1) > 0;
  }

  /**
   * One entry sent, holding a slot from the moment it was taken: counted only around the
   * POST, the reads made before it (its own URL) let the read loop and the retry pass take
   * more entries than `callback_concurrency`, and those passed a breaker the POSTs under
   * way were about to open.
   */
  private async send(entry: CallbackEntry): Promise<void> {
    this.inFlight++;
    try {
      await this.sendHoldingSlot(entry);
    } finally {
      this.inFlight--;
    }
  }

  private async sendHoldingSlot(entry: CallbackEntry): Promise<void> {
    const { redis, prefix, settings, logger } = this.deps;
    const clientTarget = this.targets.get(entry.client);
    try {
      // A message's own callback_url comes first (only where the domain allows them).
      const own = clientTarget?.perMessage
        ? await messageCallbackUrl(redis, prefix, entry.event.message_id)
        : undefined;
      const target = own !== undefined && clientTarget ? { ...clientTarget, url: own } : clientTarget;
      // No URL (removed meanwhile, or a per-message-only client's message without one): nothing to call.
      if (!target || target.url === '')
        return await acknowledgeCallback(redis, prefix, entry.client, entry.event.event_id);
      const host = callbackHost(target.url);
      if (entry.attempt > settings.callback_max_attempts)
        return await deadLetterCallback(redis, prefix, entry, host, 'attempts exhausted');
      const breaker = this.breakerOf(target.url);
      // Asked here too, not only before reading: a client with per-message URLs is read
      // whatever they say (mayPost), and its events were POSTed to a receiver whose breaker
      // was open, every retry included; a half-open breaker let a whole read through, not one probe.
      if (breaker.allowance(1) === 0) return await holdBackCallback(redis, prefix, this.deps.consumer, entry);
      if (breaker.current === 'half_open') breaker.probing();
      const outcome = await this.client.post(target, entry.event);
      countCallbackAttempt(outcome.ok ? 'delivered' : outcome.retryable ? 'failed' : 'refused');
      if (outcome.ok) {
        breaker.recordSuccess();
        await acknowledgeCallback(redis, prefix, entry.client, entry.event.event_id);
        return;
      }
      if (outcome.retryable) breaker.recordFailure(outcome.error);
      else breaker.recordSuccess(); // it answered: alive
      if (!outcome.retryable || entry.attempt >= settings.callback_max_attempts) {
        await deadLetterCallback(redis, prefix, entry, host, outcome.error);
        countCallbackAttempt('dead');
        logger.warn({ host, event_id: entry.event.event_id, error: outcome.error }, 'status callback dead-lettered');
      }
      // Otherwise it stays pending: retryOverdue sends it again after the retry interval.
    } catch (error) {
      logger.warn({ err: (error as Error).message }, 'status callback failed; it stays pending');
    }
  }

  private breakerOf(url: string): CircuitBreaker {
    let breaker = this.breakers.get(url);
    if (!breaker) {
      const host = callbackHost(url);
      breaker = new CircuitBreaker(this.deps.breaker.failures, this.deps.breaker.openMs, undefined, (state) =>
        this.deps.logger.warn({ host, breaker: state }, 'status callback circuit breaker changed'),
      );
      this.breakers.set(url, breaker);
    }
    return breaker;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
