/**
 * The main-thread side of one actor: spawns its Worker from `dist/actors/<name>/`,
 * restarts it when it dies (100 ms, doubling up to 5 s while it keeps crashing), and
 * exposes a typed RpcPeer that fails fast (ACTOR_UNAVAILABLE → 503) while it is down.
 */
import { EventEmitter } from 'node:events';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { BrokerError } from '../errors.js';
import type { Logger } from '../logger.js';
import { RpcPeer, type Protocol, type PortLike } from '../rpc/rpc-peer.js';
import type {
  ActorName,
  ActorWorkerData,
  ControlProtocol,
  FinalMetricsMessage,
  StartFailedMessage,
  SupervisorProtocol,
} from './actor.protocol.js';

/** `idle`: parked on purpose (an on-demand actor with nothing to do); the next call starts it. */
export type ActorState = 'starting' | 'up' | 'down' | 'stopping' | 'stopped' | 'idle';

/** Actors are always loaded from the compiled tree, also when tests run the TS sources. */
export function actorScript(name: ActorName): string {
  return fileURLToPath(new URL(`../../dist/actors/${name}/${name}.actor.js`, import.meta.url));
}

const FIRST_RESTART_MS = 100;
const MAX_RESTART_MS = 5_000;
/** An actor that stayed up this long is healthy again: the backoff starts over. */
const STABLE_AFTER_MS = 30_000;
/**
 * An actor that has never been up and failed this many starts in a row is not retried:
 * `start()` rejects with its last reason, so the broker exits instead of restarting it
 * every 5 s for ever without listening (unreadable or corrupt key files, a pki.dir of
 * another owner). About 3 s of backoff: a passing hiccup still gets its retries.
 */
const FIRST_START_ATTEMPTS = 5;

export interface ActorHostOptions {
  name: ActorName;
  /** Replaced by `reconfigure()`; a restarted actor gets the current one. */
  config: ActorWorkerData['config'];
  /**
   * The supervisor's: its lines carry `actor: supervisor`, so the actor they are about is
   * named `worker` (pino writes a repeated key twice, and parsers disagree on which wins).
   */
  logger: Logger;
  faultInjection: boolean;
  callTimeoutMs?: number;
  /** Where the actor's stdout (its log lines) goes; default: the process' stdout. */
  output?: NodeJS.WritableStream;
  /** Serves the actor's `supervisor.wake` (start a parked peer); absent: refused. */
  wake?: (actor: ActorName) => Promise<void>;
}

export class ActorHost<P extends Protocol> extends EventEmitter {
  readonly name: ActorName;
  readonly rpc: RpcPeer<ControlProtocol & P, SupervisorProtocol>;
  state: ActorState = 'stopped';
  restarts = 0;
  /** Threads started so far (crash restarts and graceful restarts): names whose readings are whose. */
  incarnation = 0;
  private worker: Worker | undefined;
  private crashStreak = 0;
  private startedAt = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private readyWaiters: Array<{ resolve: () => void; reject: (error: Error) => void }> = [];
  /** Has any thread of this actor said `ready`? Until then a start that keeps failing gives up. */
  private everUp = false;
  private lastStartFailure: string | undefined;
  /** The stop under way (a park or the shutdown), which a start must wait for. */
  private stopping: Promise<void> | undefined;
  /** Starting from parked (or parking): readiness must not flap because a call came. */
  private waking = false;

  constructor(private options: ActorHostOptions) {
    super();
    this.name = options.name;
    this.rpc = new RpcPeer({ peerName: `${options.name} actor`, timeoutMs: options.callTimeoutMs ?? 10_000 });
    this.rpc.handle({
      'supervisor.wake': async ({ actor }) => {
        if (!options.wake) throw new BrokerError('BAD_REQUEST', `${options.name} may not start other actors`);
        await options.wake(actor);
      },
    });
  }

  /** The young-generation limit V8 applied to the running thread (MB), if one is running. */
  get youngGenerationLimitMb(): number | undefined {
    return this.worker?.resourceLimits?.maxYoungGenerationSizeMb;
  }

  /** The old-generation limit V8 applied to the running thread (MB), if one is running. */
  get oldGenerationLimitMb(): number | undefined {
    return this.worker?.resourceLimits?.maxOldGenerationSizeMb;
  }

  get isUp(): boolean {
    return this.state === 'up';
  }

  /** Up, or parked (or being started again from parked) for the next call: not a fault. */
  get isAvailable(): boolean {
    return this.state === 'up' || this.state === 'idle' || this.waking;
  }

  /** Resolves once the actor answered `ready` (after restarts, if it crashed while starting). */
  start(): Promise<void> {
    this.spawn();
    return this.whenReady();
  }

  whenReady(): Promise<void> {
    if (this.state === 'up') return Promise.resolve();
    return new Promise((resolve, reject) => this.readyWaiters.push({ resolve, reject }));
  }

  /**
   * Resolves once the actor is up: starts a parked one (after its park has finished),
   * waits for one that is starting or restarting. After the shutdown it is ACTOR_UNAVAILABLE.
   */
  async ensureUp(): Promise<void> {
    if (this.state === 'up') return;
    if (this.stopping) await this.stopping.catch(() => undefined);
    if (this.state === 'stopped') throw new BrokerError('ACTOR_UNAVAILABLE', `The ${this.name} actor is stopped`);
    if (this.state === 'idle') {
      this.waking = true;
      this.spawn();
    }
    return this.whenReady();
  }

  /**
   * Hands the actor a reloaded config: live if it can take it, otherwise by a graceful
   * restart (finish the batch, stop, start with the new config).
   */
  async reconfigure(config: ActorWorkerData['config']): Promise<'live' | 'restarted'> {
    this.options.config = config;
    // A parked actor starts with the new config next time.
    if (this.state === 'idle') return 'live';
    const { applied } = await this.rpc.call('actor.reconfigure', { config });
    if (applied) return 'live';
    await this.stop();
    await this.start();
    return 'restarted';
  }

  /** Lets the actor finish its batch, then ends the thread. */
  async stop(timeoutMs = 10_000): Promise<void> {
    await this.stopping?.catch(() => undefined);
    await this.end('stopped', timeoutMs);
  }

  /**
   * Ends an up actor's thread as `stop` does, into `idle`: an on-demand actor with nothing
   * to do (its caller decides when). `ensureUp` starts it again.
   */
  async park(timeoutMs = 10_000): Promise<void> {
    if (this.state !== 'up') return;
    this.waking = true;
    this.stopping = this.end('idle', timeoutMs).finally(() => {
      this.stopping = undefined;
      this.waking = this.state === 'starting';
    });
    await this.stopping;
  }

  private async end(finalState: 'stopped' | 'idle', timeoutMs: number): Promise<void> {
    clearTimeout(this.restartTimer);
    const worker = this.worker;
    if (!worker) {
      if (finalState === 'stopped') this.state = 'stopped';
      return;
    }
    this.state = 'stopping';
    const incarnation = this.incarnation;
    try {
      await this.rpc.call('actor.drain', {}, { timeoutMs });
      // Its counts since the last scrape, now final: a graceful restart (config reload)
      // must not take them with the thread any more than a crash does.
      const { families } = await this.rpc.call('actor.metrics', {}, { timeoutMs: 2_000 });
      this.emit('final-metrics', incarnation, families);
    } catch (error) {
      this.options.logger.warn({ worker: this.name, err: error }, 'actor did not drain cleanly');
    }
    this.rpc.detach(`${this.name} actor stopped`);
    await worker.terminate();
    this.state = finalState;
    if (finalState === 'stopped') this.waking = false;
  }

  private spawn(): void {
    const { name, config, faultInjection, logger } = this.options;
    // Peer channels are wired by the supervisor once the actor is up (see 'up').
    const workerData: ActorWorkerData = { name, config, peers: {}, faultInjection };
    const output = this.options.output;
    // Bounded young generations keep the five isolates' peak RSS within budget (measured in docs/performance-history.md).
    const youngMb = youngGenerationMb(name, this.options.config.actors.young_generation_mb);
    // A bounded old generation makes V8 grow it by 1.3× at most instead of 4× (main-heap.ts says why).
    const oldMb = this.options.config.actors.old_generation_mb;
    const resourceLimits = {
      ...(youngMb > 0 ? { maxYoungGenerationSizeMb: youngMb } : {}),
      ...(oldMb > 0 ? { maxOldGenerationSizeMb: oldMb } : {}),
    };
    const worker = new Worker(actorScript(name), {
      workerData,
      name: `mb-${name}`,
      stdout: output !== undefined,
      ...(Object.keys(resourceLimits).length > 0 ? { resourceLimits } : {}),
    });
    if (output) worker.stdout.pipe(output, { end: false });
    this.worker = worker;
    const incarnation = ++this.incarnation;
    this.state = 'starting';
    this.startedAt = Date.now();

    worker.on('message', (message: { kind?: string }) => {
      // A crashing actor's last counts, filed under the thread that sent them.
      if (message?.kind === 'final-metrics')
        this.emit('final-metrics', incarnation, (message as FinalMetricsMessage).families);
      if (message?.kind === 'start-failed') this.lastStartFailure = (message as StartFailedMessage).message;
      if (message?.kind !== 'ready' || this.worker !== worker) return;
      this.rpc.attach(worker as unknown as PortLike);
      this.state = 'up';
      this.waking = false;
      this.everUp = true;
      logger.info({ worker: name, restarts: this.restarts }, 'actor up');
      for (const { resolve } of this.readyWaiters.splice(0)) resolve();
      this.emit('up');
    });
    // Without an 'error' listener a crashing worker would take the main thread down.
    worker.on('error', (error) => logger.error({ worker: name, err: error }, 'actor crashed'));
    worker.on('exit', (code) => this.onExit(worker, code));
  }

  private onExit(worker: Worker, code: number): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    this.rpc.detach(`${this.name} actor is restarting`);
    if (this.state === 'stopping' || this.state === 'stopped' || this.state === 'idle') return;
    this.state = 'down';
    this.waking = false;
    this.emit('down');
    if (Date.now() - this.startedAt > STABLE_AFTER_MS) this.crashStreak = 0;
    const delay = Math.min(FIRST_RESTART_MS * 2 ** this.crashStreak, MAX_RESTART_MS);
    this.crashStreak++;
    if (!this.everUp && this.crashStreak >= FIRST_START_ATTEMPTS) {
      this.state = 'stopped';
      const reason = this.lastStartFailure ?? `its thread exited with code ${code}`;
      this.options.logger.error(
        { worker: this.name, attempts: this.crashStreak, reason },
        'actor could not start; giving up',
      );
      const error = new BrokerError(
        'ACTOR_UNAVAILABLE',
        `the ${this.name} actor could not start (${this.crashStreak} attempts): ${reason}`,
      );
      for (const { reject } of this.readyWaiters.splice(0)) reject(error);
      return;
    }
    this.restarts++;
    this.options.logger.warn({ worker: this.name, code, restart_in_ms: delay }, 'actor exited; restarting');
    this.restartTimer = setTimeout(() => this.spawn(), delay);
  }
}

/**
 * The CA actor is idle but for an issue, a renewal or a CRL now and then, each a few
 * objects: a young generation of its own size (up to 4 MB) instead of the throughput
 * actors' keeps about 12 MB of semi-space out of the RSS.
 */
const IDLE_ACTOR_YOUNG_MB = 4;

export function youngGenerationMb(actor: ActorName, configured: number): number {
  if (actor !== 'ca') return configured;
  return configured > 0 ? Math.min(configured, IDLE_ACTOR_YOUNG_MB) : IDLE_ACTOR_YOUNG_MB;
}
