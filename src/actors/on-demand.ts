/**
 * The main thread's side of an actor that runs on demand: the CA and the encryption actor,
 * needed now and then (an issue, a renewal, a portal page that shows bodies) and, on the
 * store path, not at all. Kept running, each holds its own V8 isolate, a MySQL pool or a
 * key store and their garbage: 16–30 MB of the broker's RSS for nothing
 * (docs/performance.md). So:
 *
 * - the main thread's calls go through `call`, which starts a parked actor first;
 * - another actor's calls start it through `supervisor.wake` (actor-runtime.ts);
 * - every few seconds an up actor is asked `actor.idle`: one that has served nothing of its
 *   own protocol for `actors.idle_stop_ms`, from any channel, and owes nothing is parked.
 *
 * Parked (`idle`) is not a fault: health says `up`, readiness holds, `mb_actor_up` stays 1.
 */
import { BrokerError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Protocol } from '../rpc/rpc-peer.js';
import type { ActorHost } from './actor-host.js';
import type { ControlProtocol } from './actor.protocol.js';

export interface OnDemandOptions<P extends Protocol> {
  host: ActorHost<P>;
  /** Park after this long without a request; 0 = never (the actor keeps running). */
  idleStopMs: () => number;
  logger: Logger;
  /** How long a call waits for the actor to come up before it is ACTOR_UNAVAILABLE. */
  startTimeoutMs?: number;
}

type Call<P extends Protocol> = keyof (ControlProtocol & P) & string;

const DEFAULT_START_TIMEOUT_MS = 30_000;

export class OnDemandActor<P extends Protocol> {
  /** The main thread's calls under way (the actor counts them only once they arrive). */
  private inFlight = 0;
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: OnDemandOptions<P>) {}

  get host(): ActorHost<P> {
    return this.options.host;
  }

  /** As `RpcPeer.call`, starting a parked actor first. */
  async call<K extends Call<P>>(
    type: K,
    payload: (ControlProtocol & P)[K]['request'],
    options: { timeoutMs?: number } = {},
  ): Promise<(ControlProtocol & P)[K]['response']> {
    const { host } = this.options;
    this.inFlight++;
    try {
      if (!host.isUp) await this.up();
      return await host.rpc.call(type, payload, options);
    } finally {
      this.inFlight--;
    }
  }

  /** Starts the idle check (unref'd: it never keeps the process alive). */
  start(): void {
    const idleStopMs = this.options.idleStopMs();
    const everyMs = Math.max(250, Math.min(5_000, idleStopMs > 0 ? idleStopMs / 4 : 5_000));
    this.idleTimer = setInterval(() => void this.parkIfIdle(), everyMs);
    this.idleTimer.unref();
  }

  /** Stops the timers; the actor itself is stopped with the others (ActorGraph.stop). */
  async close(): Promise<void> {
    clearInterval(this.idleTimer);
  }

  /** Parks the actor when it has gone `idleStopMs` without a request and owes nothing; true when it did. */
  async parkIfIdle(): Promise<boolean> {
    const { host, logger } = this.options;
    const idleStopMs = this.options.idleStopMs();
    if (idleStopMs <= 0 || !host.isUp || this.inFlight > 0) return false;
    const idle = await host.rpc.call('actor.idle', {}, { timeoutMs: 2_000 }).catch(() => ({ idle_ms: 0, busy: true }));
    // A call may have come while it answered: it is served, and the idle time starts over.
    if (idle.busy || idle.idle_ms < idleStopMs || !host.isUp || this.inFlight > 0) return false;
    logger.debug({ worker: host.name, idle_ms: idle.idle_ms }, 'parking an idle actor');
    await host.park();
    return true;
  }

  private async up(): Promise<void> {
    const { host } = this.options;
    if (host.state === 'down')
      throw new BrokerError('ACTOR_UNAVAILABLE', `The ${host.name} actor is restarting; try again`);
    const timeoutMs = this.options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new BrokerError('ACTOR_UNAVAILABLE', `The ${host.name} actor did not start in time`)),
        timeoutMs,
      );
    });
    try {
      await Promise.race([host.ensureUp(), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}
