/**
 * A config reload (SIGHUP, the portal's reload button): what `planReload` calls live is
 * applied everywhere it matters before the reload answers, in this order —
 *
 *   log        the log file (LogOutput: every thread's lines) — refused if it cannot be opened
 *   LiveConfig the front and the main thread: domains switched on/off at once, the main
 *              logger's level, the heartbeat's fingerprint, the retention schedule
 *   actors     each takes it live (`actor.reconfigure`: log level, then its own settings)
 *              or by a graceful restart (finish the batch, start with the new config)
 *
 * The front goes first: a domain switched off refuses new messages at once; what was
 * accepted stays in its stream and is stored by the restarted delivery actor. A domain (or
 * a target) removed outright would leave its stream, schedule and dead letters to nobody:
 * such a reload is refused while they hold anything (`workLeftBehind`). Reloads run one
 * at a time.
 */
import type { ActorGraph } from '../actors/actor-graph.js';
import { ConfigError, type BrokerConfig } from '../config/config.js';
import { planReload, type ReloadResult } from '../config/config-reload.js';
import type { LiveConfig } from '../config/live-config.js';
import type { Logger } from '../logger.js';
import type { LogOutput } from '../logging/log-output.js';
import type { WorkLeftBehind } from '../queue/work-left-behind.js';

export interface Reloader {
  /** Applies a config; domain and delivery changes apply without dropping accepted messages. */
  reload(loaded: Readonly<BrokerConfig>): Promise<ReloadResult>;
  /** Re-reads the config file and applies it; throws ConfigError when it is invalid. */
  reloadFromFile(): Promise<ReloadResult>;
}

export interface ReloadDeps {
  live: LiveConfig;
  logger: Logger;
  logOutput: Pick<LogOutput, 'reconfigure'>;
  actors: Pick<ActorGraph, 'reconfigure'>;
  /** Where a reload reads the config from (the file the broker was started with). */
  readConfig: () => Readonly<BrokerConfig>;
  /** Accepted work in Redis that `next` would no longer read (removed domains and targets). */
  workLeftBehind: (current: Readonly<BrokerConfig>, next: Readonly<BrokerConfig>) => Promise<WorkLeftBehind[]>;
}

export function createReloader(deps: ReloadDeps): Reloader {
  const { live, logger } = deps;
  let reloading = Promise.resolve() as Promise<unknown>;

  const run = async (loaded: Readonly<BrokerConfig>): Promise<ReloadResult> => {
    const plan = planReload(live.current(), loaded);
    if (plan.restartRequired.length > 0)
      logger.warn({ keys: plan.restartRequired }, 'config changes that need a restart were not applied');
    if (plan.changed.length === 0) {
      // Said all the same: an operator who sent SIGHUP sees that it was read.
      logger.info({ changed: [] }, 'config reloaded');
      return { changed: [], restart_required: plan.restartRequired, actors: {} };
    }
    if (plan.changed.includes('domains')) await refuseStrandedWork(deps, live.current(), plan.next);
    if (plan.changed.includes('log')) {
      try {
        deps.logOutput.reconfigure(plan.next.log);
      } catch (error) {
        // Nothing is applied yet: the reload is refused like an invalid file.
        throw new ConfigError(`log.file ${plan.next.log.file} cannot be opened: ${(error as Error).message}`);
      }
    }
    live.apply(plan.next, plan.changed);
    // Written under the new level: at debug it shows the main thread took it.
    logger.debug({ changed: plan.changed, log_level: live.current().log.level }, 'reloaded config in force');
    const outcome = await deps.actors.reconfigure(live.current());
    logger.info({ changed: plan.changed, actors: outcome }, 'config reloaded');
    return { changed: plan.changed, restart_required: plan.restartRequired, actors: outcome };
  };

  const reload = (loaded: Readonly<BrokerConfig>): Promise<ReloadResult> => {
    const next = reloading.then(
      () => run(loaded),
      () => run(loaded),
    );
    reloading = next.catch(() => undefined);
    return next;
  };
  // async: an invalid file must reject, never throw synchronously into a signal handler.
  return { reload, reloadFromFile: async () => reload(deps.readConfig()) };
}

/**
 * Refuses (before anything is applied) a reload that would strand accepted messages: their
 * 202 was given, and only a config that still names their domain and target reads them.
 */
async function refuseStrandedWork(
  deps: ReloadDeps,
  current: Readonly<BrokerConfig>,
  next: Readonly<BrokerConfig>,
): Promise<void> {
  let left: WorkLeftBehind[];
  try {
    left = await deps.workLeftBehind(current, next);
  } catch (error) {
    throw new ConfigError(
      `domains: cannot check Redis for messages of removed domains or targets (${(error as Error).message}); try again when Redis answers`,
    );
  }
  if (left.length === 0) return;
  const listOf = (list: WorkLeftBehind[]) => list.map((w) => `${w.domain}: ${w.count} ${w.what}`).join(', ');
  const accepted = left.filter((w) => w.deadLettersOf === undefined);
  const dead = left.filter((w) => w.deadLettersOf !== undefined);
  const reasons: string[] = [];
  if (accepted.length > 0)
    reasons.push(
      `the new config drops domains or targets that still hold accepted messages (${listOf(accepted)}); ` +
        'they would never be stored or delivered. Set the domain active: false (or route nothing to the target), ' +
        'wait until redis_queue_size and mb_delivery_scheduled_messages show none left, then remove it',
    );
  // Only a configured target's dead letters can be listed or redriven (nothing else reads them).
  if (dead.length > 0)
    reasons.push(
      `the new config drops targets that still hold dead letters (${listOf(dead)}); ` +
        'they could no longer be listed or redriven. Redrive them while the target is configured (' +
        dead.map((w) => `mb dead-letter redrive --domain ${w.domain} --target ${w.deadLettersOf} --all`).join('; ') +
        ') and let them be delivered, or wait until retention drops them, then remove it',
    );
  throw new ConfigError(`domains: ${reasons.join('; and ')}`);
}
