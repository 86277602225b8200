/**
 * The actors and the channels between them.
 *
 *   main thread (front) ──worker port──▶ ingest | encryption | delivery | ca
 *   delivery ◀──MessageChannel──▶ encryption
 *
 * A peer channel is (re)made whenever either end comes up: both ends receive a fresh
 * port through `actor.wire`, so a restarted actor is re-wired without touching the other
 * one's work. Calls over a channel whose far end died fail fast and are retried by the caller.
 */
import { MessageChannel } from 'node:worker_threads';
import type { BrokerConfig } from '../config/config.js';
import { BrokerError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Protocol } from '../rpc/rpc-peer.js';
import { ActorHost } from './actor-host.js';
import type { ActorName } from './actor.protocol.js';
import type { CaProtocol } from './ca/ca.protocol.js';
import type { DeliveryProtocol } from './delivery/delivery.protocol.js';
import type { EncryptionProtocol } from './encryption/encryption.protocol.js';
import type { IngestProtocol } from './ingest/ingest.protocol.js';

const PEER_PAIRS: ReadonlyArray<readonly [ActorName, ActorName]> = [['delivery', 'encryption']];
/** Start order: what others call first. Stop order is the reverse. */
const START_ORDER: readonly ActorName[] = ['encryption', 'ca', 'ingest', 'delivery'];

export class ActorGraph {
  readonly ingest: ActorHost<IngestProtocol>;
  readonly encryption: ActorHost<EncryptionProtocol>;
  readonly delivery: ActorHost<DeliveryProtocol>;
  readonly ca: ActorHost<CaProtocol>;
  private readonly hosts: Map<ActorName, ActorHost<Protocol>>;

  /** `output` receives the actors' log lines (see src/logging/log-output.ts). */
  constructor(config: Readonly<BrokerConfig>, logger: Logger, faultInjection: boolean, output?: NodeJS.WritableStream) {
    const host = <P extends Protocol>(name: ActorName, callTimeoutMs?: number) =>
      new ActorHost<P>({
        name,
        config,
        logger,
        faultInjection,
        ...(callTimeoutMs ? { callTimeoutMs } : {}),
        ...(output ? { output } : {}),
        wake: (peer) => this.wake(peer),
      });
    this.ingest = host<IngestProtocol>('ingest', config.redis.command_timeout_ms + 2000);
    this.encryption = host<EncryptionProtocol>('encryption');
    this.delivery = host<DeliveryProtocol>('delivery');
    // RSA key generation and CRL signing take longer than a usual call.
    this.ca = host<CaProtocol>('ca', 120_000);
    this.hosts = new Map<ActorName, ActorHost<Protocol>>([
      ['ingest', this.ingest as unknown as ActorHost<Protocol>],
      ['encryption', this.encryption as unknown as ActorHost<Protocol>],
      ['delivery', this.delivery as unknown as ActorHost<Protocol>],
      ['ca', this.ca as unknown as ActorHost<Protocol>],
    ]);
    for (const [name, actor] of this.hosts) actor.on('up', () => this.wire(name, logger));
  }

  all(): ActorHost<never>[] {
    return [...this.hosts.values()] as unknown as ActorHost<never>[];
  }

  /** Starts the named actors (default: all, in start order). */
  async start(names: readonly ActorName[] = START_ORDER): Promise<void> {
    for (const name of START_ORDER) if (names.includes(name)) await this.hosts.get(name)!.start();
  }

  async stop(): Promise<void> {
    for (const name of [...START_ORDER].reverse()) await this.hosts.get(name)!.stop();
  }

  /** Gives every actor a reloaded config (live where it can, else a graceful restart). */
  async reconfigure(config: Readonly<BrokerConfig>): Promise<Record<string, 'live' | 'restarted'>> {
    const outcome: Record<string, 'live' | 'restarted'> = {};
    for (const name of START_ORDER) outcome[name] = await this.hosts.get(name)!.reconfigure(config);
    return outcome;
  }

  /** Fault injection: makes an actor throw from its event loop (refused unless enabled). */
  async crash(name: string): Promise<void> {
    const host = this.hosts.get(name as ActorName);
    if (!host) throw new BrokerError('NOT_FOUND', `no actor named ${name}`);
    if (host.state === 'idle') await host.ensureUp();
    await host.rpc.call('actor.crash', {});
  }

  /**
   * An actor's `supervisor.wake`: starts a parked on-demand peer (the delivery actor needs
   * the encryption actor). Resolves once it is up — its new channel is sent before this
   * answer, on the same port. A peer that is down (crashed, restarting) is not started here.
   */
  private async wake(name: ActorName): Promise<void> {
    const host = this.hosts.get(name);
    if (!host) throw new BrokerError('NOT_FOUND', `no actor named ${name}`);
    if (host.isUp) return;
    if (!host.isAvailable) throw new BrokerError('ACTOR_UNAVAILABLE', `The ${name} actor is ${host.state}`);
    await host.ensureUp();
  }

  private wire(name: ActorName, logger: Logger): void {
    for (const [a, b] of PEER_PAIRS) {
      if (a !== name && b !== name) continue;
      const hostA = this.hosts.get(a)!;
      const hostB = this.hosts.get(b)!;
      if (!hostA.isUp || !hostB.isUp) continue;
      const { port1, port2 } = new MessageChannel();
      hostA.rpc
        .call('actor.wire', { peer: b, port: port1 }, { transfer: [port1] })
        .catch((e: unknown) => logger.warn({ err: e, worker: a }, 'wiring failed'));
      hostB.rpc
        .call('actor.wire', { peer: a, port: port2 }, { transfer: [port2] })
        .catch((e: unknown) => logger.warn({ err: e, worker: b }, 'wiring failed'));
    }
  }
}
