/**
 * Typed request/response over a MessagePort (or a Worker / parentPort, which speak the
 * same `postMessage` + 'message' API). One peer can both call and serve.
 *
 *   caller                                   callee
 *   call('enc.hash', p) ──{kind:req,id,type,payload}──▶ handlers[type](payload)
 *        ◀──────────────{kind:res,id,ok,value|error}──
 *
 * A call to a peer that is gone fails at once with ACTOR_UNAVAILABLE; a call that gets no
 * answer in `timeoutMs` fails with ACTOR_TIMEOUT. Errors travel as data (`ErrorData`).
 */
import { BrokerError, fromErrorData, toErrorData, type ErrorData } from '../errors.js';

export interface Exchange {
  request: unknown;
  response: unknown;
}
/** A protocol: message type (`<actor>.<verb>`) → its request and response. */
export type Protocol = Record<string, Exchange>;

export type Handlers<P extends Protocol> = {
  [K in keyof P]: (payload: P[K]['request']) => Promise<P[K]['response']> | P[K]['response'];
};

export interface PortLike {
  postMessage(message: unknown, transfer?: readonly Transferable[]): void;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  on(event: 'close', listener: () => void): unknown;
  off(event: 'message', listener: (message: unknown) => void): unknown;
  off(event: 'close', listener: () => void): unknown;
}

type Transferable = import('node:worker_threads').Transferable;

interface RequestEnvelope {
  kind: 'req';
  id: number;
  type: string;
  payload: unknown;
}
type ResponseEnvelope =
  | { kind: 'res'; id: number; ok: true; value: unknown }
  | { kind: 'res'; id: number; ok: false; error: ErrorData };

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: BrokerError) => void;
  deadline: number;
}

export interface RpcPeerOptions {
  /** Name of the far side, for error messages. */
  peerName: string;
  timeoutMs?: number;
}

export class RpcPeer<Out extends Protocol, In extends Protocol = Record<never, Exchange>> {
  private port: PortLike | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private handlers: Partial<Handlers<In>> = {};
  private sweepTimer: NodeJS.Timeout | undefined;
  private readonly timeoutMs: number;
  private readonly peerName: string;
  private readonly onMessage = (message: unknown) => this.receive(message);
  private readonly onClose = () => this.detach(`${this.peerName} closed its channel`);
  private attachWaiters: Array<() => void> = [];

  constructor(options: RpcPeerOptions, port?: PortLike) {
    this.peerName = options.peerName;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    if (port) this.attach(port);
  }

  get connected(): boolean {
    return this.port !== undefined;
  }

  /** Points the peer at a (new) port; pending calls on the old one fail. */
  attach(port: PortLike): void {
    if (this.port) this.detach(`${this.peerName} was re-wired`);
    this.port = port;
    port.on('message', this.onMessage);
    port.on('close', this.onClose);
    for (const resolve of this.attachWaiters.splice(0)) resolve();
  }

  /** Resolves once a port is attached (at once if one is); ACTOR_UNAVAILABLE after `timeoutMs`. */
  whenAttached(timeoutMs: number): Promise<void> {
    if (this.port) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.attachWaiters = this.attachWaiters.filter((waiter) => waiter !== done);
        reject(new BrokerError('ACTOR_UNAVAILABLE', `${this.peerName} did not come back in time`));
      }, timeoutMs);
      this.attachWaiters.push(done);
    });
  }

  /** Forgets the port: pending and future calls fail fast until `attach`. */
  detach(reason = `${this.peerName} is not available`): void {
    const port = this.port;
    this.port = undefined;
    if (port) {
      port.off('message', this.onMessage);
      port.off('close', this.onClose);
    }
    const error = new BrokerError('ACTOR_UNAVAILABLE', reason);
    for (const pending of this.pending.values()) pending.reject(error);
    this.pending.clear();
  }

  handle(handlers: Partial<Handlers<In>>): void {
    this.handlers = { ...this.handlers, ...handlers };
  }

  call<K extends keyof Out & string>(
    type: K,
    payload: Out[K]['request'],
    options: { transfer?: readonly Transferable[]; timeoutMs?: number } = {},
  ): Promise<Out[K]['response']> {
    const port = this.port;
    if (!port) return Promise.reject(new BrokerError('ACTOR_UNAVAILABLE', `${this.peerName} is not available`));
    const id = this.nextId++;
    const envelope: RequestEnvelope = { kind: 'req', id, type, payload };
    return new Promise((resolve, reject) => {
      this.pending.set(id, {
        resolve: resolve as (value: unknown) => void,
        reject,
        deadline: Date.now() + (options.timeoutMs ?? this.timeoutMs),
      });
      this.ensureSweep();
      try {
        port.postMessage(envelope, options.transfer);
      } catch (error) {
        this.pending.delete(id);
        reject(new BrokerError('ACTOR_UNAVAILABLE', `${this.peerName}: ${(error as Error).message}`));
      }
    });
  }

  /** Sends a request without waiting for (or expecting) an answer. */
  notify<K extends keyof Out & string>(
    type: K,
    payload: Out[K]['request'],
    transfer?: readonly Transferable[],
  ): boolean {
    if (!this.port) return false;
    this.port.postMessage({ kind: 'req', id: 0, type, payload } satisfies RequestEnvelope, transfer);
    return true;
  }

  private receive(message: unknown): void {
    if (!message || typeof message !== 'object') return;
    const envelope = message as RequestEnvelope | ResponseEnvelope;
    if (envelope.kind === 'res') {
      const pending = this.pending.get(envelope.id);
      if (!pending) return; // timed out already
      this.pending.delete(envelope.id);
      if (envelope.ok) pending.resolve(envelope.value);
      else pending.reject(fromErrorData(envelope.error));
    } else if (envelope.kind === 'req') {
      void this.serve(envelope);
    }
  }

  private async serve(request: RequestEnvelope): Promise<void> {
    const handler = this.handlers[request.type as keyof In];
    let response: ResponseEnvelope;
    try {
      // Before an actor has finished starting it has no handlers yet: tell the caller to retry.
      if (!handler) throw new BrokerError('ACTOR_UNAVAILABLE', `no handler for ${request.type} (yet)`);
      const value = await handler(request.payload as never);
      response = { kind: 'res', id: request.id, ok: true, value };
    } catch (error) {
      response = { kind: 'res', id: request.id, ok: false, error: toErrorData(error) };
    }
    if (request.id === 0) return; // a notification: nobody waits
    try {
      this.port?.postMessage(response);
    } catch {
      // The caller went away while we worked; its side already failed the call.
    }
  }

  private ensureSweep(): void {
    if (this.sweepTimer) return;
    // One timer per peer instead of one per call: calls run at tens of thousands a second.
    this.sweepTimer = setInterval(() => {
      const now = Date.now();
      for (const [id, pending] of this.pending) {
        if (pending.deadline <= now) {
          this.pending.delete(id);
          pending.reject(new BrokerError('ACTOR_TIMEOUT', `${this.peerName} did not answer in time`));
        }
      }
      if (this.pending.size === 0) {
        clearInterval(this.sweepTimer);
        this.sweepTimer = undefined;
      }
    }, 100);
    this.sweepTimer.unref();
  }
}
