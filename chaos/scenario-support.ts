/** The shape every chaos scenario shares: set up, load, break things on a schedule, recover, drain, count. */
import { ChaosEnvironment, type ChaosEnvironmentOptions } from './chaos-environment.js';
import { Ledger, type DeliveredHit, type LedgerCounts } from './ledger.js';
import { LedgerLoad, sleep, type LedgerLoadOptions } from './ledger-load.js';

export interface ScenarioOptions {
  /** Seconds of load (faults are placed within it). */
  durationS: number;
  /** Seconds a dependency stays away in outage scenarios; default per scenario. */
  outageS?: number;
  /** Keep-alive connections of the load. */
  connections?: number;
  /** Progress lines (the CLI prints them; tests stay quiet). */
  log?: (line: string) => void;
}

export interface ScenarioResult {
  name: string;
  counts: LedgerCounts;
  notes: string[];
  /** Why this run fails the promise; empty = it holds. */
  failures: string[];
  seconds: number;
}

export interface Scenario {
  name: string;
  /** What a clean run proves (docs/reliability.md). */
  proves: string;
  run(options: ScenarioOptions): Promise<ScenarioResult>;
}

/** One chaos run's state, handed to the scenario's fault script. */
export class ChaosRun {
  readonly ledger = new Ledger();
  readonly notes: string[] = [];
  private readonly loads: LedgerLoad[] = [];
  private startedAt = 0;

  constructor(
    readonly env: ChaosEnvironment,
    readonly options: ScenarioOptions,
  ) {}

  log(line: string): void {
    this.options.log?.(line);
  }

  /** Starts a load (several may share the ledger, e.g. one per broker). */
  startLoad(
    label: string,
    targets: () => string[] = () => this.env.urls,
    connections = this.options.connections ?? 4,
    extra: Pick<LedgerLoadOptions, 'freshConnectionsEveryMs'> = {},
  ): LedgerLoad {
    const load = new LedgerLoad(this.ledger, { targets, bundle: this.env.bundle, connections, label, ...extra });
    load.start();
    this.loads.push(load);
    if (this.startedAt === 0) this.startedAt = Date.now();
    return load;
  }

  /** Waits until `seconds` after the load started. */
  async until(seconds: number): Promise<void> {
    await sleep(Math.max(0, this.startedAt + seconds * 1000 - Date.now()));
  }

  /** Stops every load (again: a no-op). */
  async stopLoad(): Promise<void> {
    const loads = this.loads.splice(0);
    await Promise.all(loads.map((l) => l.stop()));
  }
}

export interface FinishOptions {
  drainTimeoutMs?: number;
  /** Webhook target: what the downstream accepted (2xx), and whether it has everything. */
  delivered?: () => DeliveredHit[];
}

/** Creates the environment, runs `script` under load, then drains and reconciles; always tears down. */
export async function runChaos(
  name: string,
  environment: ChaosEnvironmentOptions,
  options: ScenarioOptions,
  script: (run: ChaosRun) => Promise<FinishOptions | void>,
  judge: (counts: LedgerCounts, run: ChaosRun) => string[] = standardVerdict,
): Promise<ScenarioResult> {
  const started = Date.now();
  const env = await ChaosEnvironment.create(environment);
  const run = new ChaosRun(env, options);
  try {
    const finish = (await script(run)) ?? {};
    await run.stopLoad();
    run.log(`${name}: load stopped after ${run.ledger.size} requests; draining`);
    const delivered = finish.delivered;
    // Webhook target: drained only once the downstream has accepted every acknowledged message.
    const downstreamHasAll = delivered
      ? () => {
          const have = new Set(delivered().map((d) => d.messageId));
          return run.ledger.acknowledgedIds().every((id) => have.has(id));
        }
      : undefined;
    const drain = await env.waitForDrain(run.ledger, finish.drainTimeoutMs ?? 180_000, downstreamHasAll);
    run.notes.push(
      drain.drained ? `drained in ${drain.seconds.toFixed(1)} s` : `NOT drained after ${drain.seconds.toFixed(0)} s`,
    );
    const counts = run.ledger.reconcile(await env.readStored(), delivered?.());
    const failures = judge(counts, run);
    if (!drain.drained) failures.push('backlog did not drain');
    return { name, counts, notes: run.notes, failures, seconds: (Date.now() - started) / 1000 };
  } finally {
    // A script that threw leaves its load running: stop it before the broker goes.
    await run.stopLoad();
    await env.destroy();
  }
}

/** The promise: nothing acknowledged lost, nothing stored twice, nothing unexpected. */
export function standardVerdict(counts: LedgerCounts): string[] {
  const failures: string[] = [];
  if (counts.acknowledged === 0) failures.push('nothing was acknowledged: the load never ran');
  if (counts.lost > 0) failures.push(`${counts.lost} acknowledged messages lost`);
  if (counts.duplicated > 0) failures.push(`${counts.duplicated} stored twice`);
  if (counts.unexpected > 0) failures.push(`${counts.unexpected} unexpected rows`);
  return failures;
}
