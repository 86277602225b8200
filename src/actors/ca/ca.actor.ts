/**
 * CA actor: the only thread of the broker that loads the CA private key. It serves the
 * CA protocol (bootstrap, issue, renew, revoke, list, crl) through `CertificateAuthority`
 * — the same class the `mb` CLI runs offline — and keeps the PKI alive when the main
 * thread's timer asks (`ca.maintain`): the CRL is re-signed at half its life and announced
 * to every broker, the server certificate is renewed before it expires (the front notices
 * the new files). It runs on demand: the main thread parks it when it is idle (on-demand.ts).
 */
import { openBrokerDatabase, toStorageError } from '../../db/database.js';
import { readCaKeyPassphrase } from '../../pki/ca-key-passphrase.js';
import { CertStore } from '../../pki/cert-store.js';
import { SharedIdentityCache } from '../../queue/identity-cache.js';
import { announceCrl } from '../../queue/revocation-events.js';
import { createRedis, whenReady } from '../../queue/redis-connection.js';
import { runActor } from '../actor-runtime.js';
import { bootstrapPki, maintainPki, type LifecycleDeps } from '../../ca/ca-lifecycle.js';
import type { CaProtocol } from './ca.protocol.js';
import type { MaintenanceResult } from '../../ca/ca.types.js';
import { CertificateAuthority } from '../../ca/ca.service.js';

runActor<CaProtocol>(async ({ config, logger }) => {
  // The passphrase is read here and in `mb` only: no other thread can open ca.key.
  const store = new CertStore(config.pki.dir, {
    caKeyPassphrase: readCaKeyPassphrase(config.pki.ca_key_passphrase_file),
  });
  const database = openBrokerDatabase(config, logger, 3);
  const redis = createRedis(config, 'ca');
  redis.on('error', (error) => logger.debug({ err: error.message }, 'redis connection error'));
  // As ingest and delivery do: the first bootstrap announces its CRL at once, and a Redis
  // Cluster client that is not ready yet refuses commands (no offline queue).
  await whenReady(redis);
  const sharedTtl = config.server.identity_shared_cache_ms;
  const sharedIdentities =
    sharedTtl > 0 ? new SharedIdentityCache(redis, config.redis.key_prefix, sharedTtl) : undefined;
  const authority = new CertificateAuthority({
    config,
    store,
    db: database.db,
    logger,
    announce: (announcement) => announceCrl(redis, config.redis.key_prefix, announcement),
    origin: `ca@${config.instance_id}`,
    ...(sharedIdentities ? { shareIdentity: (identity) => sharedIdentities.remember(identity) } : {}),
  });
  const lifecycle: LifecycleDeps = { config, store, authority, logger };

  // One maintenance run at a time: a request that comes during one gets that run's result.
  let maintaining: Promise<MaintenanceResult> | undefined;
  const maintain = () =>
    (maintaining ??= maintainPki(lifecycle)
      .then((result) => {
        if (result.crl_signed || result.server_renewed || result.expired_marked > 0)
          logger.info(result, 'CA maintenance');
        return result;
      })
      .finally(() => (maintaining = undefined)));

  return {
    handlers: {
      'ca.bootstrap': (request) => storage(bootstrapPki(lifecycle, request)),
      'ca.issue': (request) => storage(authority.issue(request)),
      'ca.renew': (request) => storage(authority.renew(request)),
      'ca.revoke': async (request) => {
        const { revoked, crl } = await storage(authority.revoke(request));
        return { revoked, crl };
      },
      'ca.list': async (request) => ({ certificates: await storage(authority.list(request)) }),
      'ca.crl': () => authority.currentCrl(),
      'ca.maintain': () => maintain(),
    },
    // Parking now would lose a run under way or a CRL announcement Redis missed.
    busy: () => maintaining !== undefined || authority.crl.hasPendingAnnouncement(),
    health: () => ({ status: store.hasCa() ? 'up' : 'degraded' }),
    drain: async () => {
      await maintaining?.catch(() => undefined);
      redis.disconnect();
      await database.close();
    },
  };
});

/** A database that cannot be reached is STORAGE_UNAVAILABLE (503) for the caller, not an internal error. */
function storage<T>(operation: Promise<T>): Promise<T> {
  return operation.catch((error: unknown) => Promise.reject(toStorageError(error)));
}
