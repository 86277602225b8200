/**
 * `mb backup`: two halves that must be stored apart.
 *
 *   <out>/                      (0700)  the database half
 *     database.sql              (0600)  mariadb-dump --single-transaction: one snapshot
 *     manifest.json             (0600)  backup id, checksums, key ids the rows use
 *   <secrets-out>/ (default <out>/secrets, 0700)  the secrets half
 *     keys/data-keys.json, keys/pepper.json      data keys and HMAC peppers
 *     pki/…                                      CA (incl. its private key), server, CRL, bundles
 *     secrets-manifest.json                      same backup id, checksums
 *
 * The dump holds only ciphertext and keyed hashes; the secrets half turns it back into
 * plaintext. Whoever has both can read every message: keep them on different media with
 * different access. The keys are copied under the `mb keys` lock, after the dump: no
 * rotation or retirement can slip in between, so the secrets always cover every key id
 * the dump references.
 */
import { randomUUID } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { KeyStore } from '../crypto/key-store.js';
import type { BrokerConfig } from '../config/config.js';
import type { DatabaseHandle } from '../db/database.js';
import { MessagesRepository } from '../db/messages.repository.js';
import { withSecretsLock } from '../keys/secrets-lock.js';
import { VERSION } from '../version.js';
import {
  DUMP_FILE,
  MANIFEST_FILE,
  SECRETS_MANIFEST_FILE,
  copyPrivate,
  exists,
  listFiles,
  mkdirPrivate,
  sha256File,
  writeJson,
  type BackupManifest,
  type FileSum,
  type SecretsManifest,
} from './backup-files.js';
import { dumpDatabase, parseDatabaseUrl } from './mysql-tools.js';

export interface BackupRequest {
  out: string;
  /** Where the secrets half goes; default `<out>/secrets`. */
  secretsOut?: string;
}

export interface BackupResult {
  manifest: BackupManifest;
  out: string;
  secretsDir: string;
  secretFiles: number;
}

export async function createBackup(
  config: Readonly<BrokerConfig>,
  database: DatabaseHandle,
  request: BackupRequest,
): Promise<BackupResult> {
  const out = resolve(request.out);
  const secretsDir = resolve(request.secretsOut ?? join(out, 'secrets'));
  for (const dir of new Set([out, secretsDir])) {
    if ((await exists(dir)) && (await readdir(dir)).length > 0)
      throw new Error(`${dir} is not empty; name a new directory`);
  }
  await mkdirPrivate(out);
  await mkdirPrivate(secretsDir);
  const backupId = randomUUID();
  const createdAt = new Date().toISOString();
  const target = parseDatabaseUrl(config.database.url);

  return withSecretsLock(config.secrets.dir, async () => {
    const dumpPath = join(out, DUMP_FILE);
    const { tool } = await dumpDatabase(target, dumpPath);
    const messages = await new MessagesRepository(database.db).countAll();

    const store = await KeyStore.open(config.secrets.dir);
    const keyFiles = (await listFiles(config.secrets.dir)).filter((f) => f.endsWith('.json'));
    await copyPrivate(config.secrets.dir, join(secretsDir, 'keys'), keyFiles, false);
    const pkiFiles = await listFiles(config.pki.dir);
    await copyPrivate(config.pki.dir, join(secretsDir, 'pki'), pkiFiles, false);
    const files: FileSum[] = [];
    for (const file of [...keyFiles.map((f) => join('keys', f)), ...pkiFiles.map((f) => join('pki', f))]) {
      files.push({ path: file, sha256: await sha256File(join(secretsDir, file)) });
    }
    await writeJson(join(secretsDir, SECRETS_MANIFEST_FILE), {
      format: 1,
      backup_id: backupId,
      created_at: createdAt,
      files,
    } satisfies SecretsManifest);

    const manifest: BackupManifest = {
      format: 1,
      backup_id: backupId,
      broker_version: VERSION,
      created_at: createdAt,
      database: {
        name: target.database,
        file: DUMP_FILE,
        sha256: await sha256File(dumpPath),
        bytes: (await stat(dumpPath)).size,
        tool,
        messages,
      },
      secrets_dir: isAbsolute(secretsDir) ? secretsDir : resolve(secretsDir),
      key_ids: {
        data_keys: store.ids('key').all,
        active_key: store.ids('key').active,
        peppers: store.ids('pepper').all,
        active_pepper: store.ids('pepper').active,
      },
    };
    await writeJson(join(out, MANIFEST_FILE), manifest);
    return { manifest, out, secretsDir, secretFiles: files.length };
  });
}
