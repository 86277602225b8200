/**
 * The main thread's side of the CA actor, which runs on demand (src/actors/on-demand.ts):
 * every caller (portal, admin API) goes through `call`, and the PKI's timer runs here so
 * that it does not keep the actor alive. Every `pki.check_interval_ms` it asks
 * `pkiMaintenanceDue` (the files and one indexed query, no CA key) whether anything is due
 * — a CRL past half its life, a server certificate to renew, an active certificate past its
 * end — and only then starts the actor for `ca.maintain`. A running actor that owes an
 * announcement (Redis was down) is asked too: `ca.maintain` re-sends it.
 */
import type { Logger } from '../../logger.js';
import type { ActorHost } from '../actor-host.js';
import { OnDemandActor } from '../on-demand.js';
import type { CaProtocol } from './ca.protocol.js';

export interface CaClientOptions {
  host: ActorHost<CaProtocol>;
  /** Park after this long without a call; 0 = never. */
  idleStopMs: () => number;
  checkIntervalMs: number;
  /** Why the actor must run its maintenance now, or undefined (ca/maintenance-due.ts). */
  maintenanceDue: () => Promise<string | undefined>;
  logger: Logger;
}

export class CaClient extends OnDemandActor<CaProtocol> {
  private maintenanceTimer: NodeJS.Timeout | undefined;
  private maintaining: Promise<void> | undefined;

  constructor(private readonly caOptions: CaClientOptions) {
    super(caOptions);
  }

  /** Starts the idle check and the PKI timer (both unref'd). */
  override start(): void {
    super.start();
    this.maintenanceTimer = setInterval(() => void this.maintain(), this.caOptions.checkIntervalMs);
    this.maintenanceTimer.unref();
  }

  /** Stops the timers and waits for a maintenance run under way; the actor is stopped with the others. */
  override async close(): Promise<void> {
    await super.close();
    clearInterval(this.maintenanceTimer);
    await this.maintaining;
  }

  /** One tick of the PKI timer; a tick that overlaps the previous run is skipped. */
  maintain(): Promise<void> {
    this.maintaining ??= this.runMaintenance().finally(() => (this.maintaining = undefined));
    return this.maintaining;
  }

  private async runMaintenance(): Promise<void> {
    const { host, logger } = this.caOptions;
    try {
      let reason = await this.caOptions.maintenanceDue();
      if (reason === undefined && host.isUp) {
        const { busy } = await host.rpc.call('actor.idle', {}, { timeoutMs: 2_000 });
        if (busy) reason = 'an announcement is owed';
      }
      if (reason === undefined) return;
      if (!host.isUp) logger.info({ worker: host.name, reason }, 'starting the CA actor for maintenance');
      await this.call('ca.maintain', {});
    } catch (error) {
      logger.error({ err: error }, 'CA maintenance failed');
    }
  }
}
