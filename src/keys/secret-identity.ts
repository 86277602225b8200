/**
 * Are this host's data keys, peppers and CA the installation's? Each is fingerprinted
 * (an HMAC-SHA256 of a fixed label under the secret — never the secret itself — and the
 * SHA-256 of the CA certificate) and compared with what the database recorded when it was
 * first used. A host that generated its own `k1` (a second checkout, a lost `data/secrets`)
 * would seal rows no other broker can open, and hash numbers no search finds: it refuses
 * to start instead, naming the key, the directory and the fix.
 */
import { createHmac, X509Certificate } from 'node:crypto';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import type { KeyIdsReport } from '../crypto/crypto.types.js';
import type { KeyStore } from '../crypto/key-store.js';
import type { SecretFingerprint, SecretFingerprintsRepository } from '../db/secret-fingerprints.repository.js';

const LABEL = 'message-broker secret fingerprint v1';

export function secretFingerprint(secret: Buffer): string {
  return createHmac('sha256', secret).update(LABEL).digest('hex');
}

export function certificateFingerprint(pem: string): string {
  return new X509Certificate(pem).fingerprint256.replaceAll(':', '').toLowerCase();
}

/** A key store's data keys and peppers, fingerprinted. */
export function keyFingerprints(store: KeyStore): Array<SecretFingerprint & { kind: 'key' | 'pepper' }> {
  return [
    ...store
      .allKeys()
      .map(({ id, key }) => ({ kind: 'key' as const, secret_id: id, fingerprint: secretFingerprint(key) })),
    ...store
      .allPeppers()
      .map(({ id, pepper }) => ({ kind: 'pepper' as const, secret_id: id, fingerprint: secretFingerprint(pepper) })),
  ];
}

export function caFingerprint(caCertificatePem: string): SecretFingerprint {
  return { kind: 'ca', secret_id: 'ca', fingerprint: certificateFingerprint(caCertificatePem) };
}

/** This host's keys and peppers (when it has key files) and CA certificate (when given), fingerprinted. */
export function heldSecrets(store: KeyStore | undefined, caCertificatePem?: string): SecretFingerprint[] {
  return [...(store ? keyFingerprints(store) : []), ...(caCertificatePem ? [caFingerprint(caCertificatePem)] : [])];
}

export class SecretIdentityError extends Error {}

/**
 * Records what is new, then compares everything held with the record. Throws a
 * SecretIdentityError naming each secret that differs and what to do about it.
 */
export async function verifySecretIdentity(
  repo: SecretFingerprintsRepository,
  held: readonly SecretFingerprint[],
  where: { secretsDir: string; pkiDir: string },
): Promise<void> {
  await repo.recordFirstUse(held);
  const recorded = new Map((await repo.all()).map((r) => [`${r.kind}/${r.secret_id}`, r.fingerprint]));
  const differing = held.filter((h) => recorded.get(`${h.kind}/${h.secret_id}`) !== h.fingerprint);
  if (differing.length === 0) return;
  const lines = differing.map((h) =>
    h.kind === 'ca'
      ? `the CA certificate in ${where.pkiDir}/ca.crt is not the CA this database was set up with`
      : `${h.kind === 'key' ? 'data key' : 'pepper'} ${h.secret_id} in ${where.secretsDir} is not the ${h.kind === 'key' ? 'data key' : 'pepper'} ${h.secret_id} this database knows`,
  );
  throw new SecretIdentityError(
    `${lines.join('; ')}. Another broker of this installation uses different secrets: copy ${where.secretsDir} (data-keys.json, pepper.json) and the CA (${where.pkiDir}/ca.crt, ca.key) from a running host, then start again. Nothing was written with these secrets.`,
  );
}

/**
 * A host without a CA of its own must not make one while the installation has one: the
 * certificates it issued, and the CRL it announced to every broker, would be a stranger's.
 */
export async function refuseNewCa(repo: SecretFingerprintsRepository, pkiDir: string, hint = ''): Promise<void> {
  if (!(await repo.all()).some((r) => r.kind === 'ca')) return;
  // "Holds none" only when ca.crt is truly absent: a pki.dir this user cannot read (another
  // owner, mode 0700) hides a CA that is there, and copying one in would not help.
  const unreadable = unreadableReason(join(pkiDir, 'ca.crt'));
  if (unreadable !== undefined)
    throw new SecretIdentityError(
      `this installation has a CA already (its fingerprint is in the database) and ${join(pkiDir, 'ca.crt')} cannot be read by this user (${unreadable}): give it read and write access to ${pkiDir} (chown it to the broker's user, mode 0700)${hint}`,
    );
  throw new SecretIdentityError(
    `this installation has a CA already (its fingerprint is in the database) and ${pkiDir} holds none: copy ca.crt and ca.key from a running host into ${pkiDir} instead of creating another${hint}`,
  );
}

/** Why `path` cannot be looked at (EACCES, ENOTDIR…), or undefined when it is there or simply absent. */
function unreadableReason(path: string): string | undefined {
  try {
    statSync(path);
    return undefined;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? undefined : (code ?? String(error));
  }
}

/** Key ids and fingerprints, never key bytes: what the instance heartbeat carries for `mb keys`. */
export function keyIdsReport(store: KeyStore, activeSince: Record<'key' | 'pepper', number>): KeyIdsReport {
  return {
    active_key_id: store.activeKey().id,
    key_ids: store.ids('key').all,
    active_key_since: activeSince.key,
    pepper_id: store.activePepper().id,
    pepper_ids: store.ids('pepper').all,
    active_pepper_since: activeSince.pepper,
    // The heartbeat carries these, so a key file swapped under a running broker shows.
    fingerprints: keyFingerprints(store),
  };
}
