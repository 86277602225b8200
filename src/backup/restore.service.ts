/**
 * `mb restore`: brings a backup's two halves back, into the database of database.url and
 * the directories secrets.dir and pki.dir.
 *
 *   1. verify: both manifests, every checksum, and that both halves carry one backup id
 *   2. refuse before touching anything: a database that has tables, or a secrets.dir /
 *      pki.dir that already holds keys — unless `force` (which replaces them)
 *   3. secrets, then the dump (mariadb client), then pending migrations (an older backup
 *      into a newer broker)
 *   4. prove it: a sample of messages must decrypt with the restored keys
 *   5. webhook messages still queued get their next attempt back on the Redis schedule
 *      (Redis is not in the backup; its stream only ever holds messages not yet stored)
 */
import { deliversByAttempts } from '../config/config-resolve.js';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { createConnection } from 'mysql2/promise';
import { EncryptionService } from '../crypto/encryption.service.js';
import { DATA_KEYS_FILE, KeyStore, PEPPER_FILE } from '../crypto/key-store.js';
import type { BrokerConfig } from '../config/config.js';
import { ensureDatabase, openDatabase } from '../db/database.js';
import { MessagesRepository } from '../db/messages.repository.js';
import { migrateDatabase } from '../db/migrate.js';
import { targetKeys } from '../queue/keys.js';
import {
  DUMP_FILE,
  MANIFEST_FILE,
  SECRETS_MANIFEST_FILE,
  copyPrivate,
  exists,
  readJson,
  sha256File,
  verifySums,
  type BackupManifest,
  type SecretsManifest,
} from './backup-files.js';
import { loadDump, parseDatabaseUrl } from './mysql-tools.js';

export interface RestoreRequest {
  from: string;
  /** The secrets half, when it was stored elsewhere; default `<from>/secrets`. */
  secretsFrom?: string;
  /** Replace a non-empty database and existing key files. */
  force: boolean;
  /** Used to put queued webhook messages back on the schedule; absent = skipped. */
  redis?: Redis;
  /** Messages decrypted to prove the keys fit the rows. @defaultValue 20 */
  sample?: number;
}

export interface RestoreResult {
  manifest: BackupManifest;
  messages: number;
  verified: { tried: number; opened: number };
  rescheduled: number | null;
}

const SAMPLE = 20;

/**
 * A half's manifest; a directory without one (a typo, the wrong half) is named as not a
 * backup, with the option to fix — not as Node's `ENOENT: no such file or directory, open …`.
 */
async function readManifest<T>(dir: string, file: string, option: string, backupOption: string): Promise<T> {
  try {
    return await readJson<T>(join(dir, file));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' || code === 'ENOTDIR'
        ? `has no ${file}`
        : error instanceof SyntaxError
          ? `has a ${file} that is not valid JSON`
          : `cannot be read (${code ?? String(error)})`;
    throw new Error(
      `${dir} is not a backup: it ${why}; ${option} takes the directory \`mb backup ${backupOption}\` wrote`,
    );
  }
}

export async function restoreBackup(config: Readonly<BrokerConfig>, request: RestoreRequest): Promise<RestoreResult> {
  const secretsFrom = request.secretsFrom ?? join(request.from, 'secrets');
  const manifest = await readManifest<BackupManifest>(request.from, MANIFEST_FILE, '--from', '--out');
  const secrets = await readManifest<SecretsManifest>(
    secretsFrom,
    SECRETS_MANIFEST_FILE,
    '--secrets-from',
    '--secrets-out',
  );
  if (manifest.format !== 1 || secrets.format !== 1) throw new Error('unknown backup format');
  if (manifest.backup_id !== secrets.backup_id && !request.force) {
    throw new Error(
      `the secrets in ${secretsFrom} belong to backup ${secrets.backup_id}, not ${manifest.backup_id} (use --force if you know they fit)`,
    );
  }
  if ((await sha256File(join(request.from, DUMP_FILE))) !== manifest.database.sha256)
    throw new Error(`${DUMP_FILE} does not match its checksum: damaged or altered`);
  const damaged = await verifySums(secretsFrom, secrets.files);
  if (damaged.length > 0) throw new Error(`secrets do not match their checksums: ${damaged.join(', ')}`);

  const target = parseDatabaseUrl(config.database.url);
  await ensureDatabase(config.database.url);
  const tables = await countTables(config.database.url, target.database);
  const existingKeys = (
    await Promise.all([DATA_KEYS_FILE, PEPPER_FILE].map((f) => exists(join(config.secrets.dir, f))))
  ).some(Boolean);
  const existingCa = await exists(join(config.pki.dir, 'ca.key'));
  if (!request.force) {
    const refusals = [
      ...(tables > 0 ? [`database ${target.database} already has ${tables} table(s)`] : []),
      ...(existingKeys ? [`${config.secrets.dir} already holds key files`] : []),
      ...(existingCa ? [`${config.pki.dir} already holds a CA key`] : []),
    ];
    if (refusals.length > 0) throw new Error(`refusing to overwrite: ${refusals.join('; ')} (--force replaces them)`);
  }

  const files = secrets.files.map((f) => f.path);
  const strip = (prefix: string) => files.filter((f) => f.startsWith(prefix)).map((f) => f.slice(prefix.length));
  await copyPrivate(join(secretsFrom, 'keys'), config.secrets.dir, strip('keys/'), request.force);
  await copyPrivate(join(secretsFrom, 'pki'), config.pki.dir, strip('pki/'), request.force);

  if (tables > 0) await recreateDatabase(config.database.url, target.database);
  await loadDump(target, join(request.from, DUMP_FILE));

  const database = openDatabase({ url: config.database.url, poolSize: 2 });
  try {
    await migrateDatabase(database.db);
    const messages = await new MessagesRepository(database.db).countAll();
    const [rows] = (await database.pool.query(
      'SELECT message_id, body_enc, sender_enc FROM messages ORDER BY id DESC LIMIT ?',
      [request.sample ?? SAMPLE],
    )) as unknown as [Array<{ message_id: string; body_enc: Buffer; sender_enc: Buffer }>];
    const opened = new EncryptionService(await KeyStore.open(config.secrets.dir)).open(rows).filter((r) => r.ok).length;
    const rescheduled = request.redis ? await reschedule(config, request.redis, database.pool) : null;
    return { manifest, messages, verified: { tried: rows.length, opened }, rescheduled };
  } finally {
    await database.close();
  }
}

async function countTables(url: string, name: string): Promise<number> {
  const connection = await createConnection({ uri: url });
  try {
    const [rows] = (await connection.query(
      'SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = ?',
      [name],
    )) as unknown as [[{ n: number }]];
    return Number(rows[0].n);
  } finally {
    await connection.end();
  }
}

/** --force: the restored database is exactly the backup's, not the backup laid over leftovers. */
async function recreateDatabase(url: string, name: string): Promise<void> {
  const server = new URL(url);
  server.pathname = '/';
  const connection = await createConnection({ uri: server.toString() });
  try {
    const quoted = `\`${name.replace(/`/g, '``')}\``;
    await connection.query(`DROP DATABASE ${quoted}`);
    await connection.query(`CREATE DATABASE ${quoted} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  } finally {
    await connection.end();
  }
}

/** Queued webhook messages back on their target's schedule (NX: an entry already there stays). */
async function reschedule(
  config: Readonly<BrokerConfig>,
  redis: Redis,
  pool: ReturnType<typeof openDatabase>['pool'],
): Promise<number> {
  let total = 0;
  for (const domain of config.domains) {
    const webhooks = domain.targets.filter(deliversByAttempts).map((t) => t.name);
    if (webhooks.length === 0) continue;
    const [rows] = (await pool.query(
      "SELECT message_id, next_attempt_at, target FROM messages WHERE domain = ? AND status = 'queued'",
      [domain.name],
    )) as unknown as [Array<{ message_id: string; next_attempt_at: Date | null; target: string }>];
    for (const target of webhooks) {
      // A row whose target is gone from the config goes to the domain's default target, as the store does.
      const own = rows.filter((r) =>
        domain.targets.some((t) => t.name === r.target) ? r.target === target : target === domain.target.name,
      );
      const schedule = targetKeys(config.redis.key_prefix, domain, target).schedule;
      for (let i = 0; i < own.length; i += 1000) {
        const args = own.slice(i, i + 1000).flatMap((r) => [r.next_attempt_at?.getTime() ?? Date.now(), r.message_id]);
        total += await redis.zadd(schedule, 'NX', ...args);
      }
    }
  }
  return total;
}
