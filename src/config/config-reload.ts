/**
 * What a config reload (SIGHUP or an admin action) may change live: the domains (their
 * switches, targets, retry policies, shares) and the delivery settings. Everything else
 * (ports, TLS, connections, paths) needs a restart; the reload says which keys those are
 * and keeps running with the old values for them.
 */
import type { BrokerConfig } from './config.js';

const LIVE_SECTIONS = new Set(['domains', 'delivery', 'log', 'retention']);

/** What a reload did: the keys it applied, those that wait for a restart, and how each actor took it. */
export interface ReloadResult {
  changed: string[];
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
      restartRequired.push(key);
    }
  }
  return { next, changed, restartRequired };
}
