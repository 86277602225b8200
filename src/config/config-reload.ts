/**
 * What a config reload (SIGHUP or an admin action) may change live, and who applies it
 * (src/app/reload.ts; test/e2e/live-reload.e2e.test.ts proves each):
 *
 *   domains    switches, targets, retry policies, shares, limits: the front and the portal
 *              read them through LiveConfig; ingest takes them live, delivery restarts
 *   delivery   the delivery actor (graceful restart)
 *   log        level: the main thread's logger (LiveConfig subscriber) and every actor
 *              (live, or with its restart); file and retention_days: LogOutput
 *   retention  the retention scheduler reads it at every tick and reschedules itself
 *
 * Everything else (ports, TLS, connections, paths) needs a restart; the reload names those
 * keys by their full path (`server.port`) and keeps running with the old values for them.
 */
import type { BrokerConfig } from './config.js';

const LIVE_SECTIONS = new Set(['domains', 'delivery', 'log', 'retention']);

/** What a reload did: the keys it applied, those that wait for a restart, and how each actor took it. */
export interface ReloadResult {
  /** Live sections applied (`domains`, `delivery`, …). */
  changed: string[];
  /** Full paths of the keys that wait for a restart (`server.port`, `redis.url`). */
  restart_required: string[];
  actors: Record<string, 'live' | 'restarted'>;
}

export interface ReloadPlan {
  /** The config to run with: new live sections, old everything else. */
  next: BrokerConfig;
  changed: string[];
  restartRequired: string[];
}

export function planReload(current: Readonly<BrokerConfig>, loaded: Readonly<BrokerConfig>): ReloadPlan {
  const changed: string[] = [];
  const restartRequired: string[] = [];
  const next = structuredClone(current) as BrokerConfig;
  for (const key of Object.keys(loaded) as Array<keyof BrokerConfig>) {
    if (JSON.stringify(current[key]) === JSON.stringify(loaded[key])) continue;
    if (LIVE_SECTIONS.has(key)) {
      changed.push(key);
      (next as unknown as Record<string, unknown>)[key] = structuredClone(loaded[key]);
    } else {
      restartRequired.push(...changedPaths(current[key], loaded[key], key));
    }
  }
  return { next, changed, restartRequired };
}

/**
 * The full paths of the keys that differ (`server.port`, `redis.url`): what an operator
 * greps the config for. A list (`redis.sentinels`) is named as a whole.
 */
function changedPaths(before: unknown, after: unknown, path: string): string[] {
  if (!isMapping(before) || !isMapping(after)) return [path];
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...keys].flatMap((key) =>
    JSON.stringify(before[key]) === JSON.stringify(after[key])
      ? []
      : changedPaths(before[key], after[key], `${path}.${key}`),
  );
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
