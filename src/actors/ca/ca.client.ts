/**
 * The main thread's side of the CA actor, which runs on demand.
 *
 * The CA is needed for an issue, a renewal, a revocation, a CRL re-sign or a server
 * certificate renewal: minutes apart on a busy day, days apart on most. Kept running, its
 * thread (node-forge, a MySQL pool, a Redis connection, its own V8 isolate) holds ≈ 16 MB
 * of the broker's RSS for nothing (docs/performance.md). So every call goes through here:
 * a parked actor is started for it, and one that has gone `actors.ca_idle_stop_ms` without
 * a call, and says it has nothing owed (`ca.quiet`), is parked again.
 *
 * The PKI's timer runs here too, so that it does not keep the actor alive: every
 * `pki.check_interval_ms` a running actor is asked for its maintenance, as it used to run
 * it on its own timer; a parked one is started only when something is due, which
 * `pkiMaintenanceDue` decides from the files and one indexed query, without the CA key.
 */
import { BrokerError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { ActorHost } from '../actor-host.js';
import type { CaProtocol } from './ca.protocol.js';

export interface CaClientOptions {
  host: ActorHost<CaProtocol>;
  /** Park after this long without a call; 0 = never (the actor keeps running). */
  idleStopMs: () => number;
  checkIntervalMs: number;
  /** Why a parked actor must be started for maintenance, or undefined (ca/maintenance-due.ts). */
  maintenanceDue: () => Promise<string | undefined>;
  logger: Logger;
  /** How long a call waits for the actor to come up before it is ACTOR_UNAVAILABLE. */
  startTimeoutMs?: number;
}

type CaCall = keyof CaProtocol & string;

const DEFAULT_START_TIMEOUT_MS = 30_000;

export class CaClient {
  private inFlight = 0;
  private lastUsed = Date.now();
  private idleTimer: NodeJS.Timeout | undefined;
  private maintenanceTimer: NodeJS.Timeout | undefined;
  private maintaining: Promise<void> | undefined;

  constructor(private readonly options: CaClientOptions) {}

  /** As `RpcPeer.call`, starting a parked actor first. */
  call<K extends CaCall>(
    type: K,
    payload: CaProtocol[K]['request'],
    options: { timeoutMs?: number } = {},
  ): Promise<CaProtocol[K]['response']> {
    return this.send(type, payload, options, true);
  }

  /** Starts the timers (both unref'd: they never keep the process alive). */
  start(): void {
    const idleCheckMs = Math.max(250, Math.min(5_000, this.options.idleStopMs() / 4 || 5_000));
    this.idleTimer = setInterval(() => void this.parkIfIdle(), idleCheckMs);
    this.idleTimer.unref();
    this.maintenanceTimer = setInterval(() => void this.maintain(), this.options.checkIntervalMs);
    this.maintenanceTimer.unref();
  }

  /** Stops the timers; the actor itself is stopped with the others (ActorGraph.stop). */
  async close(): Promise<void> {
    clearInterval(this.idleTimer);
    clearInterval(this.maintenanceTimer);
    await this.maintaining;
  }

  /**
   * Parks the actor when it has gone `idleStopMs` without a call and owes nothing.
   * True when it parked it.
   */
  async parkIfIdle(now = Date.now()): Promise<boolean> {
    const { host } = this.options;
    const idleStopMs = this.options.idleStopMs();
    if (idleStopMs <= 0 || !this.idle(now, idleStopMs)) return false;
    const quiet = await host.rpc
      .call('ca.quiet', {}, { timeoutMs: 2_000 })
      .then((answer) => answer.quiet)
      .catch(() => false);
    // A call may have come while it answered: it is served, and the idle time starts over.
    if (!quiet || !this.idle(Date.now(), idleStopMs)) return false;
    this.options.logger.debug({ worker: host.name, idle_ms: Date.now() - this.lastUsed }, 'parking an idle actor');
    await host.park();
    return true;
  }

  /** One tick of the PKI timer; a tick that overlaps the previous run is skipped. */
  maintain(): Promise<void> {
    this.maintaining ??= this.runMaintenance().finally(() => (this.maintaining = undefined));
    return this.maintaining;
  }

  /** `use`: whether the call keeps the actor from being parked (the timer's calls to a running actor do not). */
  private async send<K extends CaCall>(
    type: K,
    payload: CaProtocol[K]['request'],
    options: { timeoutMs?: number },
    use: boolean,
  ): Promise<CaProtocol[K]['response']> {
    const { host } = this.options;
    this.inFlight++;
    try {
      if (!host.isUp) {
        await this.up();
        use = true; // started for it: it stays up its idle time, as for any caller
      }
      return await host.rpc.call(type, payload, options);
    } finally {
      this.inFlight--;
      if (use) this.lastUsed = Date.now();
    }
  }

  private idle(now: number, idleStopMs: number): boolean {
    return this.options.host.isUp && this.inFlight === 0 && now - this.lastUsed >= idleStopMs;
  }

  private async runMaintenance(): Promise<void> {
    const { host, logger } = this.options;
    try {
      if (!host.isUp) {
        // Parked (or restarting, when the restart brings it up soon anyway): only for work.
        const reason = await this.options.maintenanceDue();
        if (reason === undefined) return;
        logger.info({ worker: host.name, reason }, 'starting the CA actor for maintenance');
      }
      await this.send('ca.maintain', {}, {}, false);
    } catch (error) {
      logger.error({ err: error }, 'CA maintenance failed');
    }
  }

  private async up(): Promise<void> {
    const { host } = this.options;
    if (host.state === 'down')
      throw new BrokerError('ACTOR_UNAVAILABLE', 'The certificate authority is restarting; try again');
    const timeoutMs = this.options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new BrokerError('ACTOR_UNAVAILABLE', 'The certificate authority did not start in time')),
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
