/**
 * Which live brokers hold a data key, pepper or CA that is not the installation's. Every
 * heartbeat carries its instance's fingerprints (HMACs of a fixed label under each secret,
 * the CA certificate's SHA-256: never a secret); they are compared with what the database
 * recorded on first use (`secret_fingerprints`). A broker starts only with matching
 * secrets, but a key file copied in by hand later is picked up live: this is how it shows
 * (health degraded, `mb_secret_mismatch_instances`), before its rows are found unreadable.
 */
import type { SecretFingerprint } from '../db/secret-fingerprints.repository.js';

export interface SecretMismatch {
  instance_id: string;
  host: string;
  /** What differs, by name only: `data key k1`, `pepper p1`, `the CA`. */
  secrets: string[];
}

export function describeSecret(secret: Pick<SecretFingerprint, 'kind' | 'secret_id'>): string {
  if (secret.kind === 'ca') return 'the CA';
  return `${secret.kind === 'key' ? 'data key' : 'pepper'} ${secret.secret_id}`;
}

/**
 * Instances announcing a fingerprint that differs from the recorded one under the same
 * id. One the database does not know yet is no mismatch: whoever holds it first records it.
 */
export function secretMismatches(
  instances: ReadonlyArray<{ instance_id: string; host: string; secrets?: readonly SecretFingerprint[] }>,
  recorded: readonly SecretFingerprint[],
): SecretMismatch[] {
  const known = new Map(recorded.map((r) => [`${r.kind}/${r.secret_id}`, r.fingerprint]));
  return instances.flatMap((instance) => {
    const differing = (instance.secrets ?? []).filter((held) => {
      const fingerprint = known.get(`${held.kind}/${held.secret_id}`);
      return fingerprint !== undefined && fingerprint !== held.fingerprint;
    });
    return differing.length > 0
      ? [{ instance_id: instance.instance_id, host: instance.host, secrets: differing.map(describeSecret) }]
      : [];
  });
}
