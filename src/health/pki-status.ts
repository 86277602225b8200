/**
 * PKI liveness as health components and metrics, for the main thread.
 *
 * The CRL is a liveness dependency: once its nextUpdate passes, OpenSSL refuses every
 * client handshake. So `crl` is degraded a day before that and down after it. Client
 * certificates that expire soon are listed (`client_certificates`); the component turns
 * degraded only when one expires within a week, so that a month of early warning lives
 * in the metric `mb_client_cert_expiry_seconds` (alert on it) rather than in a health
 * status that would stay degraded for weeks.
 *
 * A client counts by the certificate it will rely on longest, as the alert rule
 * (`max by (client)`) and the portal do: after a renewal the old certificate stays active
 * (the overlap) until it is revoked or ends, and its end is no news — else every client
 * renewed in time kept its domain degraded for the last week of the old certificate.
 */
import { EXPIRY_WARNING_DAYS } from '../ca/ca.service.js';
import type { CertificatesRepository } from '../db/certificates.repository.js';
import type { ParsedCrl } from '../pki/crl.js';
import { withTimeout, type ComponentStatus, type HealthReport } from './health.service.js';

const DAY_MS = 86_400_000;
const CRL_WARN_MS = DAY_MS;
const URGENT_DAYS = 7;
/** Health and /metrics may be polled every few seconds; the certificate table need not be. */
const CACHE_MS = 30_000;
/** Health lists at most this many expiring certificates (the count is exact). */
const LISTED = 20;
/** Like the other health probes: a hung database shows as degraded, not as a hung health check. */
const PROBE_TIMEOUT_MS = 1500;

type Component = HealthReport['components'][string];

export interface ActiveCertificate {
  client: string;
  domain: string;
  serial: string;
  common_name: string;
  not_after: Date;
}

export class PkiStatus {
  private cached: { at: number; rows: Promise<ActiveCertificate[]> } | undefined;

  constructor(
    private readonly crl: () => ParsedCrl | undefined,
    private readonly certificates: Pick<CertificatesRepository, 'list'>,
  ) {}

  /** Health components `crl` and `client_certificates`, for HealthService's `extra` hook. */
  async components(): Promise<HealthReport['components']> {
    return { crl: this.crlComponent(), client_certificates: await this.clientCertificatesComponent() };
  }

  crlComponent(now = Date.now()): Component {
    const crl = this.crl();
    if (!crl)
      return {
        status: 'degraded',
        problem: 'no CRL loaded: revoked certificates are only refused by the registry lookup',
      };
    const nextUpdateS = Math.floor((crl.nextUpdate.getTime() - now) / 1000);
    const status: ComponentStatus = nextUpdateS <= 0 ? 'down' : nextUpdateS * 1000 < CRL_WARN_MS ? 'degraded' : 'up';
    return {
      status,
      crl_number: crl.crlNumber,
      this_update: crl.thisUpdate.toISOString(),
      next_update: crl.nextUpdate.toISOString(),
      age_s: Math.floor((now - crl.thisUpdate.getTime()) / 1000),
      next_update_s: nextUpdateS,
      revoked: crl.revokedSerials.length,
      ...(status === 'down'
        ? { problem: 'the CRL is past nextUpdate: every client handshake fails until the CA re-signs it' }
        : {}),
    };
  }

  async clientCertificatesComponent(now = Date.now()): Promise<Component> {
    let rows: ActiveCertificate[];
    try {
      rows = await withTimeout(this.activeCertificates(), PROBE_TIMEOUT_MS);
    } catch (error) {
      return { status: 'degraded', problem: `could not read the certificate registry: ${(error as Error).message}` };
    }
    const daysLeft = (row: ActiveCertificate) => Math.floor((row.not_after.getTime() - now) / DAY_MS);
    const expiring = latestPerClient(rows)
      .filter((row) => daysLeft(row) < EXPIRY_WARNING_DAYS)
      .sort((a, b) => a.not_after.getTime() - b.not_after.getTime());
    const urgent = expiring.some((row) => daysLeft(row) < URGENT_DAYS);
    return {
      status: urgent ? 'degraded' : 'up',
      active: rows.length,
      expiring_within_30_days: expiring.length,
      expiring: expiring.slice(0, LISTED).map((row) => ({
        common_name: row.common_name,
        serial: row.serial,
        not_after: row.not_after.toISOString(),
        days_left: daysLeft(row),
      })),
    };
  }

  /** Per client, its active certificate that ends last: what its domain's health goes by. */
  async clientsLatestCertificates(): Promise<ActiveCertificate[]> {
    return latestPerClient(await this.activeCertificates());
  }

  /** Active, unexpired certificates (an overlapping renewal shows both), cached briefly. */
  activeCertificates(): Promise<ActiveCertificate[]> {
    const now = Date.now();
    if (!this.cached || now - this.cached.at > CACHE_MS) {
      const rows = this.certificates.list().then((list) =>
        list
          .filter((row) => row.status === 'active' && row.not_after.getTime() > now)
          .map((row) => ({
            client: row.client_name,
            domain: row.domain,
            serial: row.serial,
            common_name: row.subject_cn,
            not_after: row.not_after,
          })),
      );
      this.cached = { at: now, rows };
      rows.catch(() => (this.cached = undefined)); // a failed read is not cached
    }
    return this.cached.rows;
  }
}

/** Each client's certificate that ends last (clients are told apart by domain and name). */
export function latestPerClient(rows: readonly ActiveCertificate[]): ActiveCertificate[] {
  const latest = new Map<string, ActiveCertificate>();
  for (const row of rows) {
    const key = `${row.domain}\u0000${row.client}`;
    const seen = latest.get(key);
    if (!seen || row.not_after.getTime() > seen.not_after.getTime()) latest.set(key, row);
  }
  return [...latest.values()];
}
