/**
 * Polls a broker's `/readyz` during a chaos run (every 250 ms) and keeps each answer with
 * its time, so a scenario can say when the broker stopped being ready after a fault and
 * when it was ready again: a load balancer's view, beside the ledger's.
 */
import { request, type Agent } from 'undici';
import { mtlsAgent, type ClientBundle } from '../test/support/broker-harness.js';
import { sleep } from './ledger-load.js';

export class ReadinessProbe {
  readonly samples: Array<{ at: number; ready: boolean }> = [];
  private readonly agent: Agent;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly url: string,
    bundle: ClientBundle,
    private readonly intervalMs = 250,
  ) {
    this.agent = mtlsAgent(bundle, 1);
  }

  start(): this {
    this.running = this.poll();
    return this;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
    await this.agent.close();
  }

  /** Ms from `since` to the first answer that was `ready` (or not), or undefined if none came. */
  firstAfter(since: number, ready: boolean): number | undefined {
    const sample = this.samples.find((s) => s.at >= since && s.ready === ready);
    return sample ? sample.at - since : undefined;
  }

  private async poll(): Promise<void> {
    while (!this.stopped) {
      let ready = false;
      try {
        const response = await request(`${this.url}/readyz`, {
          dispatcher: this.agent,
          headersTimeout: 2000,
          bodyTimeout: 2000,
        });
        await response.body.dump();
        ready = response.statusCode === 200;
      } catch {
        // No answer at all is not ready either.
      }
      this.samples.push({ at: Date.now(), ready });
      await sleep(this.intervalMs);
    }
  }
}
