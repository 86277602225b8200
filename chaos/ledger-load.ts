/**
 * Sustained load for chaos runs: a few keep-alive mTLS connections, each sending one
 * message after another until stopped, every request written into the ledger with its
 * outcome. Unlike bench/load-generator.ts (a separate process that only counts), it runs
 * beside the orchestrator so the ledger sees each request, and it follows brokers that
 * restart or die (`targets()` is asked before every request).
 */
import { Agent, request } from 'undici';
import type { ClientBundle } from '../test/support/broker-harness.js';
import type { Ledger, Outcome } from './ledger.js';

export interface LedgerLoadOptions {
  /** Broker base URLs to send to (asked before each request; an empty list pauses). */
  targets: () => string[];
  bundle: ClientBundle;
  connections: number;
  /** Prefix of the request ids (the scenario name keeps runs apart). */
  label: string;
  /**
   * Open new TLS connections this often (the old ones finish their requests and close), so
   * that what a broker does for a NEW connection (identity lookup) is exercised all along.
   * Unset: the same keep-alive connections for the whole run.
   */
  freshConnectionsEveryMs?: number;
}

// A connection refused before anything was sent is a definite "no"; everything else that
// fails on the wire may or may not have reached the queue.
const DEFINITELY_NOT_SENT = new Set(['ECONNREFUSED', 'UND_ERR_CONNECT_TIMEOUT']);
const REQUEST_TIMEOUT_MS = 15_000;
const PAUSE_AFTER_FAILURE_MS = 50;

export class LedgerLoad {
  private agent: Agent;
  private readonly retiring = new Set<Promise<void>>();
  private rotation: NodeJS.Timeout | undefined;
  private running = false;
  private workers: Promise<void>[] = [];
  private seq = 0;
  /** TLS connections opened so far (new connections, not requests). */
  connectionsOpened = 0;

  constructor(
    private readonly ledger: Ledger,
    private readonly options: LedgerLoadOptions,
  ) {
    this.agent = this.newAgent();
  }

  start(): void {
    this.running = true;
    this.workers = Array.from({ length: this.options.connections }, (_, worker) => this.work(worker));
    const every = this.options.freshConnectionsEveryMs;
    if (every !== undefined) this.rotation = setInterval(() => this.freshConnections(), every);
  }

  /** Stops sending and waits for the requests on the wire to be answered (or to fail). */
  async stop(): Promise<void> {
    this.running = false;
    clearInterval(this.rotation);
    await Promise.all(this.workers);
    await Promise.all([this.agent.close(), ...this.retiring]);
  }

  private newAgent(): Agent {
    const { cert, key, ca } = this.options.bundle;
    const agent = new Agent({
      connections: this.options.connections,
      pipelining: 1,
      keepAliveTimeout: 60_000,
      connect: { cert, key, ca },
    });
    agent.on('connect', () => this.connectionsOpened++);
    return agent;
  }

  /** The next requests go out on new connections; the current ones close once their requests are answered. */
  private freshConnections(): void {
    const old = this.agent;
    this.agent = this.newAgent();
    const closing = old.close().catch(() => undefined);
    this.retiring.add(closing);
    void closing.then(() => this.retiring.delete(closing));
  }

  private async work(worker: number): Promise<void> {
    while (this.running) {
      const targets = this.options.targets();
      if (targets.length === 0) {
        await sleep(PAUSE_AFTER_FAILURE_MS);
        continue;
      }
      const target = targets[(worker + this.seq) % targets.length]!;
      const requestId = `${this.options.label}-${++this.seq}`;
      const sentAt = Date.now();
      const outcome = await this.sendOne(target, requestId);
      this.ledger.record({ requestId, sentAt, answeredAt: Date.now(), outcome });
      if (outcome.kind !== 'ok') await sleep(PAUSE_AFTER_FAILURE_MS);
    }
  }

  private async sendOne(target: string, requestId: string): Promise<Outcome> {
    try {
      const response = await request(`${target}/api/v1/messages`, {
        method: 'POST',
        dispatcher: this.agent,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          sender_number: '+14155550123',
          message_body: `chaos ${requestId}`,
          metadata: { chaos_request: requestId },
        }),
        headersTimeout: REQUEST_TIMEOUT_MS,
        bodyTimeout: REQUEST_TIMEOUT_MS,
      });
      const text = await response.body.text();
      const body = parseJson(text);
      if (response.statusCode === 202 && typeof body?.message_id === 'string')
        return { kind: 'ok', messageId: body.message_id };
      const code = typeof body?.error_code === 'string' ? body.error_code : `HTTP_${response.statusCode}`;
      // The broker itself may not know (an actor died with the message under way): it says so.
      const unknown = (body?.details as { outcome?: unknown } | undefined)?.outcome === 'unknown';
      return unknown ? { kind: 'indeterminate', code: `${code} (outcome unknown)` } : { kind: 'refused', code };
    } catch (error) {
      const code = (error as { code?: string }).code ?? 'CLIENT_ERROR';
      return DEFINITELY_NOT_SENT.has(code) ? { kind: 'refused', code } : { kind: 'indeterminate', code };
    }
  }
}

function parseJson(text: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
