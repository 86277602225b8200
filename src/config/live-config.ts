/**
 * The config in force, the one way every main-thread consumer sees it. A reload
 * (src/app/reload.ts) may change the live sections (config-reload.ts), so nothing that
 * must follow a reload keeps a copy:
 *
 *   current()       read at the moment of use (a request, a tick, a page)
 *   domain(name)    the hot path's lookup: one Map.get, rebuilt only on a change
 *   subscribe(fn)   for what must act on a change (log level, retention schedule, heartbeat)
 *
 * Built once by the composition root (src/app/compose.ts) and handed down; only the
 * reload calls `apply()`. Actors get the same config in `workerData` and, after a reload,
 * through `actor.reconfigure`. Where a config cannot change (the CLI, tests), wrap it:
 * `new LiveConfig(config)`.
 */
import type { BrokerConfig, DomainConfig } from './config.js';

export interface ConfigChange {
  previous: Readonly<BrokerConfig>;
  /** Top-level sections that differ (`domains`, `log`, …). */
  changed: readonly string[];
}

export type ConfigListener = (next: Readonly<BrokerConfig>, change: ConfigChange) => void;

export class LiveConfig {
  private config: Readonly<BrokerConfig>;
  private domainMap: ReadonlyMap<string, Readonly<DomainConfig>>;
  private readonly listeners = new Set<ConfigListener>();

  constructor(initial: Readonly<BrokerConfig>) {
    this.config = deepFreeze(initial);
    this.domainMap = mapOf(initial);
  }

  current(): Readonly<BrokerConfig> {
    return this.config;
  }

  domain(name: string): Readonly<DomainConfig> | undefined {
    return this.domainMap.get(name);
  }

  domains(): ReadonlyMap<string, Readonly<DomainConfig>> {
    return this.domainMap;
  }

  /** Called after each change, in subscription order; returns the unsubscribe. */
  subscribe(listener: ConfigListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Puts `next` in force and tells the subscribers. Synchronous on purpose: no request
   * sees the new domains with the old log level, or the other way round.
   */
  apply(next: Readonly<BrokerConfig>, changed: readonly string[]): void {
    const previous = this.config;
    this.config = deepFreeze(next);
    this.domainMap = mapOf(this.config);
    for (const listener of this.listeners) listener(this.config, { previous, changed });
  }
}

function mapOf(config: Readonly<BrokerConfig>): ReadonlyMap<string, Readonly<DomainConfig>> {
  return new Map(config.domains.map((d) => [d.name, d]));
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
