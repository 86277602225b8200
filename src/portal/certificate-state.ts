/**
 * How certificates are shown: the stored status corrected for time (an `active` row past
 * not_after is expired, whether or not the CA actor's sweep has marked it yet), the
 * 30-day expiry warning, and per client the certificate it will rely on longest.
 */
import type { CertificateRow, ClientRow } from '../db/schema.js';

export const EXPIRY_WARNING_DAYS = 30;
const WARNING_MS = EXPIRY_WARNING_DAYS * 86_400_000;

export type ShownCertificate<T extends CertificateRow> = T & { status: CertificateRow['status']; expiring: boolean };

export function presentCertificate<T extends CertificateRow>(certificate: T, now = Date.now()): ShownCertificate<T> {
  const status =
    certificate.status === 'active' && certificate.not_after.getTime() <= now ? 'expired' : certificate.status;
  return {
    ...certificate,
    status,
    expiring: status === 'active' && certificate.not_after.getTime() - now < WARNING_MS,
  };
}

export interface ClientSummary extends ClientRow {
  active_certificates: number;
  next_expiry: Date | null;
  expiring: boolean;
}

export function summarizeClients(
  clients: readonly ClientRow[],
  certificates: readonly CertificateRow[],
  now = Date.now(),
): ClientSummary[] {
  return clients.map((client) => {
    const active = certificates
      .map((c) => presentCertificate(c, now))
      .filter((c) => c.client_id === client.id && c.status === 'active');
    const latest = active.map((c) => c.not_after).sort((a, b) => b.getTime() - a.getTime())[0] ?? null;
    // The client's longest-lived certificate runs out soon: it needs a renewal.
    return {
      ...client,
      active_certificates: active.length,
      next_expiry: latest,
      expiring: latest !== null && latest.getTime() - now < WARNING_MS,
    };
  });
}
