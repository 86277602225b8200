/** The fingerprints every broker and `mb` must match (schema: `secret_fingerprints`). */
import { sql } from './drizzle.js';
import { secretFingerprints } from './schema.js';
import type { Database } from './database.js';

export type SecretKind = 'key' | 'pepper' | 'ca';

export interface SecretFingerprint {
  kind: SecretKind;
  secret_id: string;
  fingerprint: string;
}

export class SecretFingerprintsRepository {
  constructor(private readonly db: Database) {}

  /** Records the ones not yet known; a known one keeps its first fingerprint. */
  async recordFirstUse(held: readonly SecretFingerprint[]): Promise<void> {
    if (held.length === 0) return;
    await this.db
      .insert(secretFingerprints)
      .values([...held])
      .onDuplicateKeyUpdate({ set: { kind: sql`kind` } });
  }

  /** A deliberate replacement (`mb ca init --force`): the new one is the installation's from now on. */
  async replace(secret: SecretFingerprint): Promise<void> {
    await this.db
      .insert(secretFingerprints)
      .values(secret)
      .onDuplicateKeyUpdate({ set: { fingerprint: secret.fingerprint } });
  }

  async all(): Promise<SecretFingerprint[]> {
    return this.db
      .select({
        kind: secretFingerprints.kind,
        secret_id: secretFingerprints.secret_id,
        fingerprint: secretFingerprints.fingerprint,
      })
      .from(secretFingerprints);
  }
}
