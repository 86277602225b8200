/**
 * The CA's own lifecycle: creating it (`mb ca init`, first start), the first-start
 * bootstrap of the server and demo certificates, and the periodic maintenance that keeps
 * the broker reachable — a CRL re-signed long before its nextUpdate, a server
 * certificate renewed long before it expires, expired rows marked as such.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { BlockList, isIP } from 'node:net';
import { join } from 'node:path';
import type { BrokerConfig } from '../config/config.js';
import { BrokerError } from '../errors.js';
import type { Logger } from '../logger.js';
import { createCa } from '../pki/ca.js';
import type { CertStore } from '../pki/cert-store.js';
import { fingerprintOfPem } from '../pki/fingerprint.js';
import { issueClientCertificate, issueServerCertificate } from '../pki/issue.js';
import type { CaProtocol } from '../actors/ca/ca.protocol.js';
import type { BootstrapResult, MaintenanceResult } from './ca.types.js';
import { MAX_COMMON_NAME_LENGTH } from './client-name.js';
import type { CertificateAuthority } from './ca.service.js';

const DAY_MS = 86_400_000;
/** The server certificate is renewed when less than this is left (or a third of its life, if shorter). */
export const SERVER_RENEW_BEFORE_MS = 30 * DAY_MS;
export const CA_COMMON_NAME = 'Message Broker CA';

export interface LifecycleDeps {
  config: Readonly<BrokerConfig>;
  store: CertStore;
  authority: CertificateAuthority;
  logger: Logger;
}

export interface InitResult {
  cert_pem: string;
  fingerprint: string;
  not_after: string;
  replaced: boolean;
}

/** Creates the CA; an existing one is replaced only with `overwrite` (it invalidates every issued certificate). */
export async function initCa(
  deps: LifecycleDeps,
  options: { overwrite: boolean; commonName?: string | undefined; days?: number | undefined; actor: string },
): Promise<InitResult> {
  const { store, authority, config } = deps;
  const replaced = store.hasCa();
  if (replaced && !options.overwrite)
    throw new BrokerError('CA_EXISTS', `A CA already exists in ${store.dir}; pass --force to replace it`);
  const ca = createCa({ commonName: options.commonName ?? CA_COMMON_NAME, days: options.days ?? config.pki.ca_days });
  store.saveCa(ca, { overwrite: options.overwrite });
  const fingerprint = fingerprintOfPem(ca.certPem);
  const notAfter = new Date(new X509Certificate(ca.certPem).validTo).toISOString();
  await authority.audit.record({
    actor: options.actor,
    action: replaced ? 'ca.replace' : 'ca.init',
    target_type: 'ca',
    target_id: fingerprint.slice(0, 32),
    details: { not_after: notAfter },
  });
  deps.logger.warn({ dir: store.dir, replaced }, 'created a new certificate authority');
  // A CRL signed by the new CA at once: fronts load crl.pem and would refuse every client without one.
  await authority.crl.rebuild({ actor: options.actor, kind: 'crl', audit: true });
  return { cert_pem: ca.certPem, fingerprint, not_after: notAfter, replaced };
}

/**
 * pki.dir and its client folders down to 0700, each change logged. A looser one is common:
 * the repository ships certs/README.md, so a git checkout makes certs/ 0755 (umask 022).
 */
export function tightenPkiDirectories(store: CertStore, logger: Logger): void {
  for (const { path, was } of store.tightenDirectories())
    logger.warn({ path, was: was.toString(8), now: '700' }, 'tightened a directory holding private keys to 0700');
}

/**
 * The CN of the broker's own client certificate (presented to webhooks): `broker.<instance_id>`.
 * The instance id defaults to the host name, which may be longer than a CN holds (64
 * characters): such a name is cut, and a hash of the whole keeps apart instances whose
 * names differ only past the cut — else a long host name stopped the first start.
 */
export function deliveryClientCommonName(instanceId: string): string {
  const full = `broker.${instanceId}`.toLowerCase().replace(/[^a-z0-9.-]/g, '-');
  if (full.length <= MAX_COMMON_NAME_LENGTH) return full;
  const hash = createHash('sha256').update(full).digest('hex').slice(0, 8);
  return `${full.slice(0, MAX_COMMON_NAME_LENGTH - hash.length - 1)}-${hash}`;
}

/**
 * The server certificate's CN: its first name that fits one (64 characters). Clients check
 * the names in subjectAltName, which hold every name whatever its length; a load balancer's
 * generated name (often longer: `internal-…-0123456789abcdef.elb.eu-central-1.amazonaws.com`)
 * listed first stopped the start with "The common name must be 1 to 64 characters long".
 */
export function serverCommonName(hostnames: readonly string[]): string {
  return hostnames.find((h) => h.length <= MAX_COMMON_NAME_LENGTH) ?? 'Message Broker server';
}

/** First start (and every start): CA, server certificate, delivery client certificate, CRL, demo client. */
export async function bootstrapPki(
  deps: LifecycleDeps,
  request: CaProtocol['ca.bootstrap']['request'],
): Promise<BootstrapResult> {
  const { store, authority, config, logger } = deps;
  // Every start: a looser certs/ is tightened (and said so) before keys are read.
  tightenPkiDirectories(store, logger);
  if (store.encryptCaKeyIfPlain())
    logger.warn({ path: store.paths.caKey }, 'encrypted the CA key with the passphrase of pki.ca_key_passphrase_file');
  let created_ca = false;
  if (!store.hasCa()) {
    await initCa(deps, { overwrite: false, actor: 'system' });
    created_ca = true;
  }
  const ca = authority.loadCa();
  const server_issued = await renewServerIfDue(deps, request.hostnames);
  // After `mb ca init --force` the files of the old CA are still there: nobody trusts them now.
  if (!store.hasDeliveryClient() || !signedBy(store.loadDeliveryClient().certPem, ca.certPem)) {
    store.saveDeliveryClient(issueClientCertificate(ca, { commonName: deliveryClientCommonName(config.instance_id) }));
  }
  if (authority.crl.needsRefresh()) await authority.crl.rebuild({ actor: 'system', kind: 'crl', audit: true });

  let demo: BootstrapResult['demo'] = null;
  if (request.demo) {
    const { name, domain } = request.demo;
    const cn = `${name}.${domain}`;
    const existing = await authority.clients.findByNameAndDomain(name, domain);
    const active = existing ? await authority.certificates.listActiveForClient(existing.id) : [];
    // Re-issue when the files are gone or no longer match an active registration.
    // Re-issue too when another CA signed it (a replaced CA): the welcome's curl would fail.
    const bundle = store.hasClientBundle(cn) ? store.loadClientBundle(cn) : undefined;
    const onDisk =
      bundle !== undefined &&
      signedBy(bundle.certPem, ca.certPem) &&
      active.some((c) => c.fingerprint === fingerprintOfPem(bundle.certPem));
    if (!onDisk) {
      const order = { name, domain, actor: 'system' };
      const issued = existing ? await authority.renew(order) : await authority.issue(order);
      store.saveClientBundle(cn, { certPem: issued.cert_pem, keyPem: issued.key_pem }, issued.ca_pem);
      logger.info({ client: cn }, 'demo client certificate written');
    }
    const dir = store.clientBundleDir(cn);
    demo = {
      common_name: cn,
      dir,
      cert_path: join(dir, 'client.crt'),
      key_path: join(dir, 'client.key'),
      ca_path: join(dir, 'ca.crt'),
      created: !onDisk,
    };
  }
  return { created_ca, server_issued, demo };
}

/** Whether the CA (the one in use) signed this certificate. */
function signedBy(certPem: string, caPem: string): boolean {
  const ca = new X509Certificate(caPem);
  const cert = new X509Certificate(certPem);
  return cert.checkIssued(ca) && cert.verify(ca.publicKey);
}

/** The CA actor's `ca.maintain` (the main thread's timer, see ca.client.ts). Each step runs even if an earlier one failed. */
export async function maintainPki(deps: LifecycleDeps): Promise<MaintenanceResult> {
  const { store, authority, logger, config } = deps;
  const result: MaintenanceResult = { expired_marked: 0, crl_signed: false, server_renewed: false };
  if (!store.hasCa()) return result;
  const step = async (what: string, run: () => Promise<void>) => {
    try {
      await run();
    } catch (error) {
      logger.error({ err: error }, `CA maintenance: ${what} failed`);
    }
  };
  await step(
    'marking expired certificates',
    async () => void (result.expired_marked = await authority.certificates.markExpired(new Date())),
  );
  await step('CRL re-sign', async () => {
    if (authority.crl.needsRefresh()) {
      await authority.crl.rebuild({ actor: 'system', kind: 'crl', audit: true });
      result.crl_signed = true;
    } else {
      await authority.crl.announcePending();
    }
  });
  await step(
    'server certificate renewal',
    async () => void (result.server_renewed = await renewServerIfDue(deps, config.server.public_hostnames)),
  );
  return result;
}

async function renewServerIfDue(deps: LifecycleDeps, hostnames: readonly string[]): Promise<boolean> {
  const { store, authority, config, logger } = deps;
  const ca = authority.loadCa();
  const reason = store.hasServer() ? serverRenewalReason(store.loadServer().certPem, ca.certPem, hostnames) : 'missing';
  if (reason === undefined) return false;
  const issued = issueServerCertificate(ca, {
    commonName: serverCommonName(hostnames),
    hostnames: [...hostnames],
    days: config.pki.server_days,
  });
  store.saveServer(issued);
  await authority.audit.record({
    actor: 'system',
    action: 'server_certificate.issue',
    target_type: 'certificate',
    target_id: issued.serialHex,
    details: { reason, hostnames, not_after: issued.notAfter.toISOString() },
  });
  logger.info({ hostnames, reason, not_after: issued.notAfter.toISOString() }, 'server certificate issued');
  return true;
}

/**
 * Why the server certificate must be replaced, or undefined. "Expiring" means less than
 * 30 days left, or less than a third of its lifetime for short-lived ones (else a
 * 30-day certificate would be re-issued on every check).
 */
export function serverRenewalReason(
  certPem: string,
  caPem: string,
  hostnames: readonly string[],
  now = Date.now(),
): string | undefined {
  const cert = new X509Certificate(certPem);
  if (!cert.checkIssued(new X509Certificate(caPem))) return 'issued by another CA';
  const notBefore = new Date(cert.validFrom).getTime();
  const notAfter = new Date(cert.validTo).getTime();
  if (notAfter - now < Math.min(SERVER_RENEW_BEFORE_MS, (notAfter - notBefore) / 3)) return 'expiring';
  const sans = (cert.subjectAltName ?? '').split(', ');
  return hostnames.every((h) => sans.some((san) => sanMatches(san, h))) ? undefined : 'hostnames changed';
}

/** Node prints IPv6 SANs expanded (`IP Address:0:0:0:0:0:0:0:1` for `::1`): compare addresses, not text. */
function sanMatches(san: string, hostname: string): boolean {
  const family = isIP(hostname);
  if (family === 0) return san.toLowerCase() === `dns:${hostname.toLowerCase()}`;
  if (!san.startsWith('IP Address:')) return false;
  const type = family === 6 ? 'ipv6' : 'ipv4';
  const address = san.slice('IP Address:'.length);
  if (isIP(address) !== family) return false;
  const list = new BlockList();
  list.addAddress(hostname, type);
  return list.check(address, type);
}
