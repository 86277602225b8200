/**
 * The worker side of every actor: reads `workerData`, serves the actor's handlers on its
 * main channel (the Worker port) and on every peer channel, takes re-wired peer ports,
 * and answers the control protocol (health, drain, crash, metrics).
 *
 *   main thread ──parentPort──▶ handlers  ◀──peer MessagePort── other actor
 */
import { parentPort, workerData } from 'node:worker_threads';
import { BrokerError } from '../errors.js';
import { startIdleGc } from './idle-gc.js';
import { createLogger, type Logger } from '../logger.js';
import { loadThreadRegistry, snapshot, snapshotNow } from '../metrics/registry-snapshot.js';
import { RpcPeer, type Handlers, type Protocol, type PortLike } from '../rpc/rpc-peer.js';
import type {
  ActorHealth,
  ActorName,
  ActorWorkerData,
  ControlProtocol,
  FinalMetricsMessage,
  StartFailedMessage,
  SupervisorProtocol,
} from './actor.protocol.js';

export interface ActorContext {
  name: ActorName;
  config: ActorWorkerData['config'];
  logger: Logger;
  /** Calls to peer actors; a peer that restarts is re-attached here by the supervisor. */
  peer<P extends Protocol>(name: ActorName): RpcPeer<P, Protocol>;
  /**
   * Calls to a peer that runs on demand (the encryption actor): a call that finds it parked
   * asks the supervisor to start it, waits for the new channel and is sent again.
   */
  onDemandPeer<P extends Protocol>(name: ActorName): OnDemandPeer<P>;
}

export type OnDemandPeer<P extends Protocol> = Pick<RpcPeer<P, Protocol>, 'call'>;

/** How long a call waits for a parked peer to start and be re-wired. */
const WAKE_TIMEOUT_MS = 30_000;

export interface ActorDefinition<P extends Protocol> {
  /** The actor's own requests, served on the main channel and every peer channel. */
  handlers: Partial<Handlers<P>>;
  health(): ActorHealth | Promise<ActorHealth>;
  /** Finish the work in hand and release resources; the thread exits after. */
  drain(): Promise<void>;
  /**
   * Work owed that parking the actor now would lose (a CRL announcement Redis missed), for
   * `actor.idle`; requests being served are counted by the runtime.
   */
  busy?(): boolean;
  /**
   * Takes a reloaded config live; without it the supervisor restarts the actor instead.
   * The runtime has applied `log.level` to the thread's logger (and its children) by then.
   */
  reconfigure?(config: ActorWorkerData['config']): void | Promise<void>;
}

export function runActor<P extends Protocol>(setup: (ctx: ActorContext) => Promise<ActorDefinition<P>>): void {
  if (!parentPort) throw new Error('an actor must run in a worker thread');
  const data = workerData as ActorWorkerData;
  // process.stdout, not fd 1: the supervisor reads each actor's stdout and writes it to
  // its own stdout and the log file, so every thread's lines land in one place.
  // The same bindings as the supervisor's lines, so each line says which thread of which instance wrote it.
  const logger = createLogger(
    data.config.log.level,
    { actor: data.name, instance_id: data.config.instance_id },
    process.stdout,
  );
  // Last words of a crashing actor: its counts since the last scrape, so /metrics loses none.
  process.on('uncaughtExceptionMonitor', () => {
    try {
      parentPort!.postMessage({ kind: 'final-metrics', families: snapshotNow() } satisfies FinalMetricsMessage);
    } catch {
      // Nothing more can be done from a dying thread.
    }
  });
  const peers = new Map<ActorName, RpcPeer<Protocol, Protocol>>();
  const main = new RpcPeer<SupervisorProtocol, ControlProtocol & P>(
    { peerName: 'supervisor', timeoutMs: WAKE_TIMEOUT_MS },
    parentPort as unknown as PortLike,
  );
  let served: Partial<Handlers<P>> = {};
  // Requests of the actor's own protocol, from any channel: what `actor.idle` reports.
  const activity = { serving: 0, lastAt: Date.now() };

  const peer = (name: ActorName) => {
    let p = peers.get(name);
    if (!p) {
      p = new RpcPeer<Protocol, Protocol>({ peerName: `${name} actor` });
      p.handle(served as Partial<Handlers<Protocol>>);
      peers.set(name, p);
    }
    return p as RpcPeer<never, Protocol>;
  };

  for (const [name, port] of Object.entries(data.peers)) {
    if (port) peer(name as ActorName).attach(port as unknown as PortLike);
  }

  // The supervisor serves this actor's requests only once it has said `ready`: a call
  // made while `setup` still runs (a dispatcher's first poll finding attempts due) waits.
  let saidReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (saidReady = resolve));

  const onDemandPeer = <Q extends Protocol>(name: ActorName): OnDemandPeer<Q> => {
    const channel = peer(name) as unknown as RpcPeer<Q, Protocol>;
    const wake = async () => {
      await ready;
      // Wired meanwhile: the supervisor wires an up peer as soon as this actor is up.
      if (channel.connected) return;
      await main.call('supervisor.wake', { actor: name });
      await channel.whenAttached(WAKE_TIMEOUT_MS);
    };
    return {
      call: async (type, payload, options) => {
        if (!channel.connected) await wake();
        try {
          return await channel.call(type, payload, options);
        } catch (error) {
          // Parked between the check and the call (its drain refuses new work), or its
          // channel closed with the park: start it and send once more.
          if (!isParkRace(error)) throw error;
          await wake();
          return channel.call(type, payload, options);
        }
      },
    };
  };

  const started = setup({
    name: data.name,
    config: data.config,
    logger,
    peer: peer as ActorContext['peer'],
    onDemandPeer: onDemandPeer as ActorContext['onDemandPeer'],
  });
  started.then(
    (definition) => {
      served = counted(definition.handlers, activity);
      for (const p of peers.values()) p.handle(served as Partial<Handlers<Protocol>>);
      const control: Partial<Handlers<ControlProtocol>> = {
        'actor.wire': ({ peer: name, port }) => peer(name).attach(port as unknown as PortLike),
        'actor.health': () => definition.health(),
        'actor.drain': () => definition.drain(),
        'actor.reconfigure': async ({ config }) => {
          if (!definition.reconfigure) return { applied: false };
          // Children made with logger.child() inherit the level through their prototype.
          logger.level = config.log.level;
          await definition.reconfigure(config);
          logger.debug({ log_level: config.log.level }, 'reloaded config applied live');
          return { applied: true };
        },
        'actor.metrics': async () => ({ families: await snapshot() }),
        'actor.idle': () => ({
          idle_ms: activity.serving > 0 ? 0 : Date.now() - activity.lastAt,
          busy: activity.serving > 0 || definition.busy?.() === true,
        }),
        'actor.crash': () => {
          if (!data.faultInjection) throw new BrokerError('BAD_REQUEST', 'fault injection is disabled');
          // Thrown outside any promise so it kills the thread like a real bug would.
          setImmediate(() => {
            throw new Error(`fault injection: ${data.name} actor crashed on request`);
          });
        },
      };
      main.handle({ ...control, ...served } as Partial<Handlers<ControlProtocol & P>>);
      parentPort!.postMessage({ kind: 'ready' });
      saidReady();
      logger.debug({ log_level: data.config.log.level }, 'actor ready');
      // A quiet actor gives back what its last burst left on the heap (src/actors/idle-gc.ts).
      startIdleGc(logger);
      // After `ready`: loading prom-client must not slow a restart down.
      setImmediate(() => void loadThreadRegistry());
    },
    (error: unknown) => {
      logger.fatal({ err: error }, 'actor failed to start');
      parentPort!.postMessage({
        kind: 'start-failed',
        message: error instanceof Error ? error.message : String(error),
      } satisfies StartFailedMessage);
      // Exit non-zero: the supervisor restarts us with backoff.
      process.exit(1);
    },
  );
}

/** The handlers, each keeping `activity` (requests being served, the time of the last start or end). */
function counted<P extends Protocol>(
  handlers: Partial<Handlers<P>>,
  activity: { serving: number; lastAt: number },
): Partial<Handlers<P>> {
  const out: Partial<Handlers<P>> = {};
  for (const [type, handler] of Object.entries(handlers) as Array<[keyof P, Handlers<P>[keyof P]]>) {
    out[type] = (async (payload: unknown) => {
      activity.serving++;
      activity.lastAt = Date.now();
      try {
        return await (handler as (payload: unknown) => unknown)(payload);
      } finally {
        activity.serving--;
        activity.lastAt = Date.now();
      }
    }) as Handlers<P>[keyof P];
  }
  return out;
}

/** An error a call gets when its peer was parked under it: ACTOR_UNAVAILABLE (channel gone) or SHUTTING_DOWN (draining). */
function isParkRace(error: unknown): boolean {
  return error instanceof BrokerError && (error.code === 'ACTOR_UNAVAILABLE' || error.code === 'SHUTTING_DOWN');
}
