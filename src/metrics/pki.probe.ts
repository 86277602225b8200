/**
 * Liveness of the PKI as numbers: a CRL past `nextUpdate` makes OpenSSL refuse every
 * handshake, and an expired certificate locks its client out.
 *
 *   <pki.dir>/crl.pem     → mb_crl_age_seconds, mb_crl_next_update_seconds (re-read when it changes)
 *   certificates (MySQL)  → mb_client_cert_expiry_seconds{client,domain,serial}   (active ones; cached)
 *   server certificate    → mb_server_cert_expiry_seconds
 *
 * Coordination note: the CRL and client-certificate gauges are also planned by the
 * revocation work; whichever lands second must drop its copy (same names, one registry).
 */
import { statSync, readFileSync } from 'node:fs';
import type { CertificateWithClient } from '../db/certificates.repository.js';
import { parseCrl } from '../pki/crl.js';
import { GaugeFamily } from './fast-series.js';

const crlAge = new GaugeFamily('mb_crl_age_seconds', 'Seconds since the current CRL was signed (thisUpdate)');
const crlNextUpdate = new GaugeFamily(
  'mb_crl_next_update_seconds',
  'Seconds until the CRL nextUpdate; past it (negative) every TLS handshake fails',
);
const clientExpiry = new GaugeFamily(
  'mb_client_cert_expiry_seconds',
  'Seconds until each active client certificate expires (negative: expired)',
  // `domain` beside the CN lets an alert go to the tenant's team: `max by (domain) (...)`.
  ['client', 'domain', 'serial'],
);
const serverExpiry = new GaugeFamily('mb_server_cert_expiry_seconds', 'Seconds until the server certificate expires');

/** The certificate list is read at most this often (a scrape every 15 s needs no fresher expiry dates). */
const CERTIFICATES_TTL_MS = 60_000;

export interface PkiProbeDeps {
  crlPath: string;
  listCertificates(): Promise<
    Array<Pick<CertificateWithClient, 'serial' | 'status' | 'not_after' | 'client_name' | 'domain'>>
  >;
  serverCertificateNotAfter(): Date | undefined;
  now?: () => number;
}

export class PkiProbe {
  private crl: { mtimeMs: number; thisUpdate: number; nextUpdate: number } | undefined;
  private certificates:
    | { at: number; list: Array<{ client: string; domain: string; serial: string; notAfter: number }> }
    | undefined;
  private readonly now: () => number;

  constructor(private readonly deps: PkiProbeDeps) {
    this.now = deps.now ?? Date.now;
  }

  async refresh(): Promise<void> {
    const now = this.now();
    this.readCrl();
    if (this.crl) {
      crlAge.series().set((now - this.crl.thisUpdate) / 1000);
      crlNextUpdate.series().set((this.crl.nextUpdate - now) / 1000);
    } else {
      crlAge.clear();
      crlNextUpdate.clear();
    }
    const notAfter = this.deps.serverCertificateNotAfter();
    if (notAfter) serverExpiry.series().set((notAfter.getTime() - now) / 1000);
    await this.readCertificates(now);
    clientExpiry.clear();
    for (const c of this.certificates?.list ?? [])
      clientExpiry.series(c.client, c.domain, c.serial).set((c.notAfter - now) / 1000);
  }

  private readCrl(): void {
    let mtimeMs: number;
    try {
      mtimeMs = statSync(this.deps.crlPath).mtimeMs;
    } catch {
      this.crl = undefined;
      return;
    }
    if (this.crl?.mtimeMs === mtimeMs) return;
    try {
      const parsed = parseCrl(readFileSync(this.deps.crlPath, 'utf8'));
      this.crl = { mtimeMs, thisUpdate: parsed.thisUpdate.getTime(), nextUpdate: parsed.nextUpdate.getTime() };
    } catch {
      // Half-written during a re-sign: keep the previous reading, the next scrape re-reads.
    }
  }

  private async readCertificates(now: number): Promise<void> {
    if (this.certificates && now - this.certificates.at < CERTIFICATES_TTL_MS) return;
    const rows = await this.deps.listCertificates();
    this.certificates = {
      at: now,
      list: rows
        .filter((r) => r.status === 'active')
        .map((r) => ({
          client: `${r.client_name}.${r.domain}`,
          domain: r.domain,
          serial: r.serial,
          notAfter: r.not_after.getTime(),
        })),
    };
  }
}
