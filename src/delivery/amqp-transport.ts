/**
 * The amqp target: each attempt publishes the webhook payload (JSON, payload version 2)
 * to a RabbitMQ exchange and is `ok` only once the broker has confirmed it:
 *
 *   deliver ──▶ a confirm channel of the pool ──basic.publish (mandatory, persistent)──▶ RabbitMQ
 *                                         ◀── basic.return? ── basic.ack / basic.nack ──┘
 *     ack, nothing returned   → ok (the queue holds it on disk: persistent + durable queue)
 *     channel closed, no connection, no confirm in time
 *                             → a retryable failure: retry policy, breaker, dead letter
 *     returned (no queue bound for its key), nack (a queue full, reject-publish)
 *                             → the same, but the breaker takes it as RabbitMQ alive: the
 *                               other routing keys of the target keep flowing
 *
 * One connection per target, recovered by amqplib (backoff with jitter) after RabbitMQ
 * restarts; while it is down an attempt fails at once instead of holding its slot. So does
 * one while RabbitMQ blocks the connection (connection.blocked: a memory or disk alarm,
 * sent at the first publish after the alarm): a publish into a blocked connection would
 * hold its slot until the timeout and then land anyway once the alarm lifts, beside its
 * retry — a duplicate per attempt made during the alarm. The
 * channels are a pool as large as the target's slots, each carrying one publish at a time:
 * a channel error (a missing exchange closes the channel) fails that one attempt only, and
 * a return is matched to its publish without bookkeeping. A channel is opened once and
 * reused; one that closed (or timed out, whose late confirm must not be read as another
 * message's) is replaced on next use. Nothing is declared: the exchange, the queues and
 * their bindings are the operator's topology (durable queues, or quorum queues, for a
 * confirm to mean "on disk").
 *
 * A lost confirm (RabbitMQ killed between storing and confirming) makes the next attempt
 * publish the message again: consumers deduplicate on the AMQP `message_id`.
 */
import { connect, type ConfirmChannel, type Message, type RecoveringChannelModel } from 'amqplib';
import type { Logger } from '../logger.js';
import {
  AMQP_ERRORS,
  type DeliveryOutcome,
  type DeliveryPayload,
  type DeliveryRoute,
  type DeliveryTransport,
} from './delivery-transport.js';

export interface AmqpTarget {
  /** amqp(s)://user:password@host:port/vhost (never logged: it holds the password). */
  url: string;
  exchange: string;
  /** May hold `{domain}`, `{route}`, `{match}` (see `routingKeyOf`). */
  routingKey: string;
  timeoutMs: number;
  /** PEM texts for amqps://: the CA of RabbitMQ's certificate, our client certificate and key. */
  tls: { ca?: string; cert?: string; key?: string };
}

/** The routing key of one attempt: the template's placeholders filled, a missing value empty. */
export function routingKeyOf(template: string, domain: string, route: DeliveryRoute = {}): string {
  const values: Record<string, string> = { domain, route: route.route ?? '', match: route.match ?? '' };
  return template.replace(/\{(domain|route|match)\}/g, (_, name: string) => values[name] ?? '');
}

/** `amqps://host:port/vhost` without user or password, for logs. */
export function redactedUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return 'amqp(s)://<unparsable>';
  }
}

/**
 * What an operator should read for a connection that failed. amqplib words RabbitMQ's
 * refusal of `connection.open` (a vhost that does not exist, or that the user has no
 * permission on) as a protocol surprise and drops RabbitMQ's reason: name the vhost instead.
 */
export function connectFailureOf(error: Error, url: string): string {
  if (/^Expected ConnectionOpenOk; got <ConnectionClose/.test(error.message)) {
    let vhost = '/';
    try {
      vhost = decodeURIComponent(new URL(url).pathname.slice(1)) || '/';
    } catch {
      // Unparsable: amqplib would not have got this far.
    }
    return `RabbitMQ refused vhost "${vhost}" (it does not exist, or the user has no permission on it)`;
  }
  return error.message;
}

/**
 * RabbitMQ suggests 60 s heartbeats: a silently dead link would then go unnoticed for up
 * to two minutes, each attempt meanwhile timing out. 15 s unless the URL sets its own.
 */
export function withHeartbeat(url: string, seconds = 15): string {
  if (/[?&]heartbeat=/.test(url)) return url;
  return `${url}${url.includes('?') ? '&' : '?'}heartbeat=${seconds}`;
}

interface PooledChannel {
  channel: ConfirmChannel;
  open: boolean;
  /**
   * Why RabbitMQ closed it (`404 NOT_FOUND - no exchange …`, `403 ACCESS_REFUSED …`): its
   * 'error' comes before its 'close', and the attempt's last_error should say what to fix.
   */
  closedBy?: string;
}

/** A connection failing for the same reason is logged again after this long, not at every retry. */
const CONNECT_FAILURE_LOG_EVERY_MS = 60_000;

export class AmqpTransport implements DeliveryTransport {
  private model: RecoveringChannelModel | undefined;
  private connected = false;
  /** Why the connection is down (the last failure to connect, or the disconnect), for each attempt's error. */
  private downBecause = 'not connected yet';
  /** RabbitMQ's reason while it blocks our publishes (connection.blocked), else undefined. */
  private blockedBy: string | undefined;
  private closing = false;
  private readonly idle: PooledChannel[] = [];
  /** Channels open or being opened, idle or carrying a publish. */
  private channels = 0;
  private readonly waiters: Array<(channel: PooledChannel | undefined) => void> = [];
  private readonly recoveredListeners: Array<() => void> = [];
  /** Failed connection tries since the last connect, and when the last was logged. */
  private failedTries = 0;
  private failureLoggedAt = 0;

  constructor(
    private readonly target: AmqpTarget,
    /** How many channels the pool may open: the target's slots. */
    private readonly poolSize: number,
    private readonly logger?: Pick<Logger, 'info' | 'warn'>,
    /** Who it delivers for, in its log lines: `domain/target`. */
    private readonly name = '',
  ) {}

  onRecovered(listener: () => void): void {
    this.recoveredListeners.push(listener);
  }

  get isConnected(): boolean {
    return this.connected;
  }

  get isBlocked(): boolean {
    return this.blockedBy !== undefined;
  }

  /** Starts connecting (and reconnecting for ever); resolves at once (rejects only on a URL amqplib cannot parse). */
  async start(): Promise<void> {
    const where = { target: this.name, rabbitmq: redactedUrl(this.target.url) };
    const { ca, cert, key } = this.target.tls;
    this.model = await connect(withHeartbeat(this.target.url), {
      ...(ca ? { ca: [ca] } : {}),
      ...(cert && key ? { cert, key } : {}),
      timeout: this.target.timeoutMs,
      recovery: {
        initialDelay: 200,
        maxDelay: 5000,
        // The broker may start before RabbitMQ: deliveries fail and are retried meanwhile.
        waitForConnect: false,
      },
    });
    this.model.on('connect', () => {
      this.connected = true;
      this.failedTries = 0;
      this.failureLoggedAt = 0;
      // A new connection starts unblocked; RabbitMQ blocks it again at its first publish.
      this.blockedBy = undefined;
      this.logger?.info(where, 'amqp target connected');
      this.announceRecovered();
    });
    this.model.on('disconnect', (error: Error) => {
      this.connected = false;
      this.blockedBy = undefined;
      this.downBecause = error.message;
      this.logger?.warn({ ...where, err: error.message }, 'amqp target disconnected; reconnecting');
    });
    this.model.on('connect-failed', (error: Error) => {
      // Each attempt's last_error (and so the breaker's, in health) says why: a refused
      // login or vhost is the operator's to fix, not a network blip.
      const reason = connectFailureOf(error, this.target.url);
      // Reconnects come every few seconds for as long as it lasts: a new reason is logged at
      // once, the same one again at most once a minute, with how many tries failed meanwhile.
      const now = Date.now();
      this.failedTries++;
      if (reason !== this.downBecause || now - this.failureLoggedAt >= CONNECT_FAILURE_LOG_EVERY_MS) {
        this.logger?.warn(
          { ...where, err: reason, failed_tries: this.failedTries },
          'amqp target connection failed; retrying',
        );
        this.failureLoggedAt = now;
      }
      this.downBecause = reason;
    });
    this.model.on('blocked', (reason: string) => {
      this.blockedBy = reason || 'resource alarm';
      this.logger?.warn(
        { ...where, reason: this.blockedBy },
        'amqp target blocked by RabbitMQ (resource alarm); attempts fail until it lifts',
      );
    });
    this.model.on('unblocked', () => {
      this.blockedBy = undefined;
      this.logger?.info(where, 'amqp target unblocked by RabbitMQ');
      this.announceRecovered();
    });
    // Without a listener an 'error' event would throw in the delivery actor.
    this.model.on('error', (error: Error) => this.logger?.warn({ ...where, err: error.message }, 'amqp target error'));
  }

  private announceRecovered(): void {
    for (const listener of this.recoveredListeners) listener();
  }

  deliver(payload: DeliveryPayload, signal?: AbortSignal, route: DeliveryRoute = {}): Promise<DeliveryOutcome> {
    // A stopping dispatcher only keeps new attempts from starting; those under way end
    // with their confirm or their timeout.
    if (signal?.aborted) return Promise.resolve(this.failed('delivery stopped'));
    if (!this.model || !this.connected)
      return Promise.resolve(
        this.failed(`${AMQP_ERRORS.disconnected}: no connection to RabbitMQ (reconnecting): ${this.downBecause}`),
      );
    if (this.blockedBy !== undefined)
      return Promise.resolve(
        this.failed(`${AMQP_ERRORS.blocked}: RabbitMQ blocks publishers (${this.blockedBy}) until its alarm lifts`),
      );
    const body = Buffer.from(JSON.stringify(payload));
    const routingKey = routingKeyOf(this.target.routingKey, payload.domain, route);
    return new Promise((resolve) => {
      let pooled: PooledChannel | undefined;
      let done = false;
      let returned = false;
      const finish = (outcome: DeliveryOutcome, reusable: boolean) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (pooled) {
          pooled.channel.off('return', onReturn);
          pooled.channel.off('close', onClose);
          this.release(pooled, reusable);
        }
        resolve(outcome);
      };
      const onReturn = (message: Message) => {
        if (message.properties.messageId === payload.message_id) returned = true;
      };
      const onClose = () =>
        finish(
          this.failed(`${AMQP_ERRORS.channelClosed}: ${pooled?.closedBy ?? 'the channel closed'} before the confirm`),
          false,
        );
      // A channel that missed its confirm is dropped: its late ack or return must not
      // count for the next message published on it.
      const timer = setTimeout(
        () => finish(this.failed(`${AMQP_ERRORS.timeout}: no confirm within ${this.target.timeoutMs} ms`), false),
        this.target.timeoutMs,
      );
      this.acquire().then(
        (channel) => {
          if (!channel) return finish(this.failed(`${AMQP_ERRORS.disconnected}: no channel (reconnecting)`), true);
          pooled = channel;
          // Timed out waiting for it: nothing was published on it, so it stays in the pool.
          if (done) return this.release(channel, true);
          if (!channel.open) return finish(this.failed(`${AMQP_ERRORS.channelClosed}: the channel closed`), false);
          channel.channel.on('return', onReturn);
          channel.channel.once('close', onClose);
          try {
            channel.channel.publish(
              this.target.exchange,
              routingKey,
              body,
              {
                persistent: true,
                mandatory: true,
                messageId: payload.message_id,
                contentType: 'application/json',
                contentEncoding: 'utf-8',
                timestamp: Math.floor(Date.now() / 1000),
                appId: 'message-broker',
                type: 'message',
                headers: {
                  'x-mb-attempt': payload.attempt,
                  'x-mb-payload-version': payload.payload_version,
                  'x-mb-client-id': payload.client_id,
                  'x-mb-domain': payload.domain,
                },
              },
              // RabbitMQ sends basic.return before the basic.ack of the same message.
              (error: Error | null) => {
                // amqplib answers 'message nacked' for a basic.nack, 'channel closed' when
                // the channel went before the confirm.
                // A nack is one queue's refusal (full with `x-overflow: reject-publish`, or
                // its own internal error): RabbitMQ answered, so, as for a return, the breaker
                // takes the target as alive and only this routing key's messages are retried.
                if (error && /nack/i.test(error.message))
                  finish(
                    {
                      ok: false,
                      error: `${AMQP_ERRORS.nack}: RabbitMQ refused the message (a queue bound for routing key "${routingKey}" is full or failed)`,
                      retryable: true,
                      answered: true,
                    },
                    true,
                  );
                else if (error)
                  finish(
                    this.failed(
                      `${AMQP_ERRORS.channelClosed}: ${channel.closedBy ?? error.message} before the confirm`,
                    ),
                    false,
                  );
                else if (returned)
                  finish(
                    {
                      ok: false,
                      error: `${AMQP_ERRORS.unroutable}: no queue is bound for exchange "${this.target.exchange}" and routing key "${routingKey}"`,
                      retryable: true,
                      // RabbitMQ took and confirmed the publish: the link is well, the key is not.
                      answered: true,
                    },
                    true,
                  );
                else finish({ ok: true, status: 200 }, true);
              },
            );
          } catch (error) {
            finish(this.failed(`${AMQP_ERRORS.channelClosed}: ${(error as Error).message}`), false);
          }
        },
        (error: Error) => finish(this.failed(`${AMQP_ERRORS.disconnected}: ${error.message}`), true),
      );
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    for (const waiter of this.waiters.splice(0)) waiter(undefined);
    await this.model?.close().catch(() => {});
  }

  private failed(error: string): DeliveryOutcome {
    return { ok: false, error, retryable: true };
  }

  /** An idle open channel, a new one while the pool has room, else the next one released. */
  private acquire(): Promise<PooledChannel | undefined> {
    while (this.idle.length > 0) {
      const channel = this.idle.pop()!;
      if (channel.open) return Promise.resolve(channel);
    }
    if (this.channels < this.poolSize) return this.open();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private async open(): Promise<PooledChannel> {
    this.channels++;
    try {
      const channel = await this.model!.createConfirmChannel();
      const pooled: PooledChannel = { channel, open: true };
      channel.on('close', () => {
        if (pooled.open) this.channels--;
        pooled.open = false;
      });
      // A channel error (e.g. NOT_FOUND: no such exchange) also closes it; the publish
      // under way gets its outcome from the close. The listener keeps it from throwing.
      channel.on('error', (error: Error) => {
        pooled.closedBy = error.message;
        this.logger?.warn({ target: this.name, err: error.message }, 'amqp channel error');
      });
      return pooled;
    } catch (error) {
      this.channels--;
      throw error;
    }
  }

  private release(pooled: PooledChannel, reusable: boolean): void {
    if (!reusable || !pooled.open || this.closing) {
      if (pooled.open) {
        pooled.open = false;
        this.channels--;
        pooled.channel.close().catch(() => {});
      }
      const waiter = this.waiters.shift();
      if (waiter) this.open().then(waiter, () => waiter(undefined));
      return;
    }
    const waiter = this.waiters.shift();
    if (waiter) waiter(pooled);
    else this.idle.push(pooled);
  }
}
