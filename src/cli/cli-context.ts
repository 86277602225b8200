/**
 * What a running `mb` command works with. The config is read when the context opens;
 * everything else is opened on first use and closed by `close()`:
 *
 *   database()          the database as it is (a command that needs a migrated one says so)
 *   migratedDatabase()  created and migrated first if needed, so the CA and user commands
 *                       work before the broker's first start
 *   redis()             a connection that answered, or an error after 5 s
 *   ca()                the CA files and the certificate authority, over the migrated
 *                       database: the CLI signs offline with the CA key and never needs a
 *                       running broker; a new CRL is announced over a connection of its own
 *   accounts()          the portal's account rules, over the migrated database
 *   clientStatus()      disable/enable a client, announced to the running brokers over the
 *                       same give-up-at-once connection as the CRL
 *   verifySecrets()     this host's data keys, peppers and CA against the installation's
 *                       record (src/keys/secret-identity.ts): the runners (`withContext`,
 *                       `runCommand`) call it before every command body, so no `mb` command
 *                       works with a key or CA that is not the installation's
 *
 * The CA and the account rules (node-forge, the portal) are imported on first use, so
 * `mb … --help` answers at once.
 */
import { existsSync, readFileSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import type { LifecycleDeps } from '../ca/ca-lifecycle.js';
import type { CertificateAuthority } from '../ca/ca.service.js';
import { ConfigError, loadConfig, type BrokerConfig } from '../config/config.js';
import { ensureDatabase, openDatabase, type DatabaseHandle } from '../db/database.js';
import type { Repositories } from '../db/index.js';
import type { SecretFingerprintsRepository } from '../db/secret-fingerprints.repository.js';
import { migrateDatabase } from '../db/migrate.js';
import { createLogger, type Logger } from '../logger.js';
import type { ClientStatusService } from '../clients/client-status.service.js';
import type { CertStore } from '../pki/cert-store.js';
import type { UserAdmin } from '../portal/user-admin.service.js';
import { createRedis, whenReady, type RedisPurpose } from '../queue/redis-connection.js';

export interface CliCa {
  store: CertStore;
  authority: CertificateAuthority;
  lifecycle: LifecycleDeps;
}

export interface CliAccounts {
  repositories: Repositories;
  users: UserAdmin;
}

export interface CliContext {
  readonly config: Readonly<BrokerConfig>;
  /** Silent unless --verbose; on stderr, so that stdout stays the answer (and --json stays JSON). */
  readonly logger: Logger;
  /** Who the audit log names: `cli:<os user>`. */
  readonly actor: string;
  database(): DatabaseHandle;
  migratedDatabase(): Promise<DatabaseHandle>;
  redis(): Promise<Redis>;
  ca(): Promise<CliCa>;
  accounts(): Promise<CliAccounts>;
  clientStatus(): Promise<ClientStatusService>;
  /** The installation's record of secret fingerprints, over the migrated database. */
  secretRecord(): Promise<SecretFingerprintsRepository>;
  /**
   * Records this host's keys, peppers and CA where the database does not know them yet and
   * throws a SecretIdentityError naming each that differs, the directory and the fix.
   * `ca: false` leaves the CA out (`mb ca init --force` replaces it).
   */
  verifySecrets(options?: { ca?: boolean }): Promise<void>;
  close(): Promise<void>;
}

export function openContext(config: Readonly<BrokerConfig>, options: { verbose?: boolean } = {}): CliContext {
  const logger = createLogger(options.verbose ? 'info' : 'silent', { actor: 'cli' }, pino.destination(2));
  const opened: { database?: DatabaseHandle; redis?: Redis; announcer?: Redis } = {};
  let migrated: Promise<DatabaseHandle> | undefined;
  let redis: Promise<Redis> | undefined;
  let ca: Promise<CliCa> | undefined;
  let accounts: Promise<CliAccounts> | undefined;
  let clientStatus: Promise<ClientStatusService> | undefined;
  // Not redis(): a CLI that cannot announce has still done its work (exit 2), so this
  // connection gives up at once instead of retrying.
  const announcer = () => ready(config, (opened.announcer ??= connect(config, 'ca', { retryStrategy: () => null })));

  const database = () => (opened.database ??= openDatabase({ url: config.database.url, poolSize: 3 }));
  const migratedDatabase = () =>
    (migrated ??= (async () => {
      await ensureDatabase(config.database.url);
      const handle = database();
      await migrateDatabase(handle.db);
      return handle;
    })());

  const secretRecord = async () => {
    const db = (await migratedDatabase()).db;
    const { SecretFingerprintsRepository } = await import('../db/secret-fingerprints.repository.js');
    return new SecretFingerprintsRepository(db);
  };

  const context: CliContext = {
    config,
    logger,
    actor: `cli:${osUser()}`,
    database,
    migratedDatabase,
    redis: () =>
      (redis ??= (async () => {
        opened.redis = connect(config, 'cli');
        return ready(config, opened.redis);
      })()),
    ca: () =>
      (ca ??= (async () => {
        const db = (await migratedDatabase()).db;
        const [
          { CertificateAuthority },
          { CertStore },
          { announceCrl },
          { readCaKeyPassphrase },
          { tightenPkiDirectories },
          { SharedIdentityCache },
        ] = await Promise.all([
          import('../ca/ca.service.js'),
          import('../pki/cert-store.js'),
          import('../queue/revocation-events.js'),
          import('../pki/ca-key-passphrase.js'),
          import('../ca/ca-lifecycle.js'),
          import('../queue/identity-cache.js'),
        ]);
        const store = new CertStore(config.pki.dir, {
          caKeyPassphrase: readCaKeyPassphrase(config.pki.ca_key_passphrase_file),
        });
        // mb works on certs/ before any broker started: same 0700 rule as the CA actor.
        tightenPkiDirectories(store, logger);
        const authority = new CertificateAuthority({
          config,
          store,
          db,
          logger,
          origin: `cli@${hostname()}`,
          announce: async (announcement) => announceCrl(await announcer(), config.redis.key_prefix, announcement),
          shareIdentity: async (identity) => {
            const ttl = config.server.identity_shared_cache_ms;
            if (ttl > 0)
              await new SharedIdentityCache(await announcer(), config.redis.key_prefix, ttl).remember(identity);
          },
        });
        return { store, authority, lifecycle: { config, store, authority, logger } };
      })()),
    accounts: () =>
      (accounts ??= (async () => {
        const db = (await migratedDatabase()).db;
        const [{ createRepositories }, { PasswordHasher }, { UserAdmin }, { LiveConfig }] = await Promise.all([
          import('../db/index.js'),
          import('../portal/password-hasher.js'),
          import('../portal/user-admin.service.js'),
          import('../config/live-config.js'),
        ]);
        const repositories = createRepositories(db);
        const users = new UserAdmin(
          repositories.users,
          repositories.clients,
          repositories.audit,
          new PasswordHasher(config.portal.scrypt_log_n, config.portal.scrypt_p),
          new LiveConfig(config),
        );
        return { repositories, users };
      })()),
    clientStatus: () =>
      (clientStatus ??= (async () => {
        const db = (await migratedDatabase()).db;
        const [
          { ClientsRepository },
          { CertificatesRepository },
          { ClientStatusService },
          { announceClientStatus },
          { SharedIdentityCache },
        ] = await Promise.all([
          import('../db/clients.repository.js'),
          import('../db/certificates.repository.js'),
          import('../clients/client-status.service.js'),
          import('../queue/client-status-events.js'),
          import('../queue/identity-cache.js'),
        ]);
        const ttl = config.server.identity_shared_cache_ms;
        return new ClientStatusService({
          clients: new ClientsRepository(db),
          announce: async (announcement) =>
            announceClientStatus(await announcer(), config.redis.key_prefix, announcement),
          origin: `cli@${hostname()}`,
          shareIdentities:
            ttl > 0
              ? async (clientId) => {
                  const shared = new SharedIdentityCache(await announcer(), config.redis.key_prefix, ttl);
                  for (const identity of await new CertificatesRepository(db).listActiveIdentitiesOfClient(clientId))
                    await shared.remember(identity);
                }
              : undefined,
        });
      })()),
    secretRecord,
    verifySecrets: async (options = {}) => {
      const [{ KeyStore, DATA_KEYS_FILE, PEPPER_FILE }, { heldSecrets, verifySecretIdentity }] = await Promise.all([
        import('../crypto/key-store.js'),
        import('../keys/secret-identity.js'),
      ]);
      const { secrets, pki } = config;
      // A host without key files (before the first start, a CA-only host) has none to compare;
      // the commands that need keys fail on their own.
      const hasKeys = [DATA_KEYS_FILE, PEPPER_FILE].some((file) => existsSync(join(secrets.dir, file)));
      const caPath = join(pki.dir, 'ca.crt');
      const caPem = options.ca !== false && existsSync(caPath) ? readFileSync(caPath, 'utf8') : undefined;
      const held = heldSecrets(hasKeys ? await KeyStore.open(secrets.dir) : undefined, caPem);
      if (held.length === 0) return;
      await verifySecretIdentity(await secretRecord(), held, { secretsDir: secrets.dir, pkiDir: pki.dir });
    },
    close: async () => {
      opened.redis?.disconnect();
      opened.announcer?.disconnect();
      await opened.database?.close();
    },
  };
  return context;
}

/** What a runner does before the command body. */
export interface RunnerOptions {
  /**
   * Compare this host's keys and CA with the installation's first (default true). Off
   * only for commands that replace them on purpose: `mb restore`, `mb ca init` (which
   * checks the keys itself and records the CA it makes).
   */
  verifySecrets?: boolean;
}

/**
 * Runs a command body with a context read from --config and always closes it. Failures
 * (a bad config included) go to the caller; `runCommand` in cli-support.ts reports them
 * itself instead.
 */
export async function withContext<T>(
  command: Command,
  body: (context: CliContext) => Promise<T>,
  options: RunnerOptions = {},
): Promise<T> {
  const file = command.optsWithGlobals<{ config?: string }>().config;
  const context = openContext(configOrExit(file));
  try {
    if (options.verifySecrets !== false) await context.verifySecrets();
    return await body(context);
  } finally {
    await context.close();
  }
}

/**
 * An invalid config exits 78 with `mb: config error: …`, as cli-support's readConfig does
 * for the other commands (and the broker): thrown on, it was `mb: <message>` and exit 1.
 */
function configOrExit(file: string | undefined): Readonly<BrokerConfig> {
  try {
    return loadConfig(file ? { file } : {});
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`mb: config error: ${error.message}\n`);
    process.exit(78);
  }
}

function connect(
  config: Readonly<BrokerConfig>,
  purpose: RedisPurpose,
  options: Parameters<typeof createRedis>[2] = {},
): Redis {
  const redis = createRedis(config, purpose, options);
  redis.on('error', () => undefined); // reported by the command that needed it
  return redis;
}

async function ready(config: Readonly<BrokerConfig>, redis: Redis): Promise<Redis> {
  if (!(await whenReady(redis, 5000))) throw new Error(`Redis at ${config.redis.url} does not answer`);
  return redis;
}

function osUser(): string {
  try {
    return userInfo().username;
  } catch {
    return String(process.getuid?.() ?? 'unknown');
  }
}
