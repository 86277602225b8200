/**
 * The encryption actor's worker entry (loaded by path from dist/, never imported): it
 * opens what the ingest actor sealed (the webhook and amqp paths, the portal), seals what an
 * older broker appended in the clear, hashes the portal's sender searches, plus its own
 * pool threads. It runs on demand (src/actors/on-demand.ts): on the store path nothing
 * calls it and it is parked; the delivery actor starts it through `supervisor.wake`.
 *
 *   delivery actor ──open/seal──▶ ┐
 *   front (portal) ──open/hash──▶ encryption actor ──large batches──▶ piscina pool (2)
 *                                 ┘      KeyStore ◀── <secrets.dir>/data-keys.json, pepper.json
 *
 * Keys and plaintext never reach a log line: only key ids, counts and file paths do.
 */
import { BrokerError } from '../../errors.js';
import { runActor } from '../actor-runtime.js';
import { measured } from '../../crypto/encryption.metrics.js';
import type { EncryptionProtocol } from './encryption.protocol.js';
import { EncryptionPool } from './encryption.pool.js';
import { EncryptionService } from '../../crypto/encryption.service.js';
import { KeyStore } from '../../crypto/key-store.js';
import { KeyWatcher } from '../../crypto/key-watcher.js';
import { keyIdsReport } from '../../keys/secret-identity.js';
import { envelopeKeyId, envelopeVersionOf, toBuffer } from '../../crypto/envelope.js';
import type { OpenInput } from '../../crypto/crypto.types.js';

runActor<EncryptionProtocol>(async (ctx) => {
  const store = await KeyStore.loadOrCreate(ctx.config.secrets.dir);
  for (const warning of store.warnings) ctx.logger.warn({ secrets_dir: ctx.config.secrets.dir }, warning);
  const pool = new EncryptionPool(new EncryptionService(store, envelopeVersionOf(ctx.config.secrets.envelope_version)));
  ctx.logger.info(
    {
      active_key_id: store.activeKey().id,
      pepper_id: store.activePepper().id,
      key_count: store.keyCount,
      pool_threshold: pool.threshold,
    },
    'encryption keys loaded',
  );
  // `mb keys rotate|activate|retire` rewrite the files; pick that up without a restart.
  const watcher = new KeyWatcher({
    store,
    dir: ctx.config.secrets.dir,
    intervalMs: ctx.config.secrets.reload_interval_ms,
    logger: ctx.logger,
  });
  await watcher.start();

  let draining: Promise<void> | undefined;
  let inFlight = 0;
  let idle: (() => void) | undefined;

  /** Counts requests so drain can wait for the batch in hand; refuses new ones once draining. */
  const tracked = async <T>(work: () => T | Promise<T>): Promise<T> => {
    if (draining) throw new BrokerError('SHUTTING_DOWN', 'the encryption actor is draining');
    inFlight++;
    try {
      return await work();
    } finally {
      inFlight--;
      if (inFlight === 0) idle?.();
    }
  };

  return {
    handlers: {
      'encryption.seal': ({ items }) =>
        tracked(() => measured('seal', items.length, async () => ({ items: await pool.seal(items) }))),
      'encryption.open': ({ items }) =>
        tracked(async () => {
          // The ingest actor seals with the key files as it last read them: a key it picked
          // up a moment before this thread (or another broker's newer key) is read now.
          if (sealedWithUnknownKey(store, items)) await watcher.check();
          const opened = await measured(
            'open',
            items.length,
            async () => ({ items: await pool.open(items) }),
            (r) => r.items.filter((i) => !i.ok).length,
          );
          const failed = items.filter((_item, i) => !opened.items[i]?.ok).map((item) => item.message_id);
          // Never silent: a missing key or an altered row is something an operator must see,
          // with why (one count per reason) and what to do about it.
          if (failed.length > 0)
            ctx.logger.warn(
              {
                count: failed.length,
                message_ids: failed.slice(0, 20),
                reasons: failureReasons(opened.items),
                what_to_do: DECRYPTION_ADVICE,
              },
              'messages could not be decrypted',
            );
          return opened;
        }),
      'encryption.hash': ({ numbers }) =>
        tracked(() => measured('hash', numbers.length, () => ({ hashes: pool.hash(numbers) }))),
      'encryption.keys': () => keyIdsReport(store, watcher.activeSince),
    },
    // A batch in hand: its caller would get SHUTTING_DOWN (and start it again) if parked now.
    busy: () => inFlight > 0,
    // Nothing the encryption actor does depends on domains or delivery settings.
    reconfigure: () => undefined,
    health: () => ({
      status: 'up',
      details: {
        active_key_id: store.activeKey().id,
        pepper_id: store.activePepper().id,
        key_count: store.keyCount,
        pepper_count: store.pepperCount,
        pool_threads: pool.threads,
        warnings: store.warnings.length,
      },
    }),
    // Idempotent: a second drain (supervisor retry) waits for the first.
    drain: () =>
      (draining ??= (async () => {
        watcher.stop();
        if (inFlight > 0) await new Promise<void>((resolve) => (idle = resolve));
        await pool.close();
        ctx.logger.info('encryption actor drained');
      })()),
  };
});

/** Whether any envelope names a data key this store does not hold (malformed ones fail later, per item). */
function sealedWithUnknownKey(store: KeyStore, items: readonly OpenInput[]): boolean {
  if (!Array.isArray(items)) return false;
  for (const item of items) {
    try {
      if (!store.keyById(envelopeKeyId(toBuffer(item.body_enc)))) return true;
    } catch {
      // Malformed: openBatch reports it for this item.
    }
  }
  return false;
}

/** What an operator can do about a message that does not open, whatever the reason. */
const DECRYPTION_ADVICE =
  "'unknown data key id kN': put kN back into secrets.dir from a backup (mb keys status lists what rows use); any other reason: the row was altered or copied from another message (restore it from a backup)";

/** The failures' reasons, each with how many messages it stopped. */
function failureReasons(items: ReadonlyArray<{ ok: boolean; error?: { message: string } }>): Record<string, number> {
  const reasons: Record<string, number> = {};
  for (const item of items)
    if (!item.ok) {
      const reason = item.error?.message ?? 'unknown';
      reasons[reason] = (reasons[reason] ?? 0) + 1;
    }
  return reasons;
}
