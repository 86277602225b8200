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
} from './actor.protocol.js';

export interface ActorContext {
  name: ActorName;
  config: ActorWorkerData['config'];
  logger: Logger;
  /** Calls to peer actors; a peer that restarts is re-attached here by the supervisor. */
  peer<P extends Protocol>(name: ActorName): RpcPeer<P, Protocol>;
}

export interface ActorDefinition<P extends Protocol> {
  /** The actor's own requests, served on the main channel and every peer channel. */
  handlers: Partial<Handlers<P>>;
  health(): ActorHealth | Promise<ActorHealth>;
  /** Finish the work in hand and release resources; the thread exits after. */
  drain(): Promise<void>;
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
  const main = new RpcPeer<Record<never, never>, ControlProtocol & P>(
    { peerName: 'supervisor' },
    parentPort as unknown as PortLike,
  );
  let served: Partial<Handlers<P>> = {};

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

  const ready = setup({ name: data.name, config: data.config, logger, peer: peer as ActorContext['peer'] });
  ready.then(
    (definition) => {
      served = definition.handlers;
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
        'actor.crash': () => {
          if (!data.faultInjection) throw new BrokerError('BAD_REQUEST', 'fault injection is disabled');
          // Thrown outside any promise so it kills the thread like a real bug would.
          setImmediate(() => {
            throw new Error(`fault injection: ${data.name} actor crashed on request`);
          });
        },
      };
      main.handle({ ...control, ...definition.handlers } as Partial<Handlers<ControlProtocol & P>>);
      parentPort!.postMessage({ kind: 'ready' });
      logger.debug({ log_level: data.config.log.level }, 'actor ready');
      // A quiet actor gives back what its last burst left on the heap (src/actors/idle-gc.ts).
      startIdleGc(logger);
      // After `ready`: loading prom-client must not slow a restart down.
      setImmediate(() => void loadThreadRegistry());
    },
    (error: unknown) => {
      logger.fatal({ err: error }, 'actor failed to start');
      // Exit non-zero: the supervisor restarts us with backoff.
      process.exit(1);
    },
  );
}
