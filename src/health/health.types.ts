/** The shapes health answers in, shared by the health service, domain health and the probes (no imports back). */
export type ComponentStatus = 'up' | 'degraded' | 'down';

export interface DomainHealth {
  status: ComponentStatus;
  reasons: string[];
}

export type DomainsHealth = Record<string, DomainHealth>;

export interface HealthReport {
  status: ComponentStatus;
  instance_id: string;
  version: string;
  uptime_s: number;
  components: Record<string, { status: ComponentStatus; [detail: string]: unknown }>;
  /** Per configured domain: `up`, or `degraded` with reasons. Not part of `status`. */
  domains?: DomainsHealth;
}
