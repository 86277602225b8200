/**
 * Whether the PKI needs its CA now, decided without the CA key. The main thread asks this
 * every `pki.check_interval_ms` and starts a parked CA actor only when it gets a reason
 * (src/actors/ca/ca.client.ts); the actor's `ca.maintain` then does the work with the key,
 * making the same checks again (`maintainPki` in ca-lifecycle.ts).
 */
import type { CertificatesRepository } from '../db/certificates.repository.js';
import type { CertStore } from '../pki/cert-store.js';
import { crlNeedsRefresh } from '../pki/crl.js';
import { serverRenewalReason } from './ca-lifecycle.js';

export interface MaintenanceDueDeps {
  store: CertStore;
  /** The server certificate's names (`server.public_hostnames`, as reloaded). */
  hostnames: () => readonly string[];
  certificates: Pick<CertificatesRepository, 'hasExpiredActive'>;
}

/** Why the CA actor has work to do, or undefined. */
export async function pkiMaintenanceDue(deps: MaintenanceDueDeps, now = Date.now()): Promise<string | undefined> {
  const { store } = deps;
  // No CA yet: `mb ca init` or the next start's bootstrap makes one, not the timer.
  if (!store.hasCa()) return undefined;
  const caPem = store.loadCaCertificate();
  if (crlNeedsRefresh(store.hasCrl() ? store.loadCrl() : undefined, caPem, now)) return 'the CRL is due for re-signing';
  const server = store.hasServer()
    ? serverRenewalReason(store.loadServerCertificate(), caPem, deps.hostnames(), now)
    : 'missing';
  if (server !== undefined) return `server certificate: ${server}`;
  if (await deps.certificates.hasExpiredActive(new Date(now))) return 'certificates past their end are marked active';
  return undefined;
}
