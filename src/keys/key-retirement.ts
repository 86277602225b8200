/**
 * When may a data key or pepper leave the key file for good? Only when nothing can need
 * it again:
 *
 *   1. it is not this file's active entry;
 *   2. no live broker seals (or hashes) with it, and each switched away from it longer
 *      than `graceMs` ago — a batch sealed just before a broker reloaded may still be on
 *      its way into MySQL;
 *   3. no message still waiting in a domain stream can be sealed with it: the ingest
 *      actor seals before the append, so an entry appended before every broker switched
 *      (plus the grace) may carry the old key until it is stored;
 *   4. no row references it (checked after 2 and 3, so such a batch would be counted).
 *
 * A broker that does not report its keys (encryption actor restarting) blocks too: we
 * cannot tell what it uses. Brokers that are down entirely are the operator's part: on a
 * multi-host install every host must run the same key file (docs/deploy.md).
 */
import type { KeyStore, SecretKind } from '../crypto/key-store.js';
import type { MessageKeysRepository } from '../db/message-keys.repository.js';
import type { InstanceReport } from '../instances/instance-registry.js';
import { COLUMN_OF } from './key-rotation.service.js';

/** Long enough for a store batch to go from sealing to commit on a slow database. */
export const DEFAULT_RETIRE_GRACE_MS = 30_000;

export interface RetirementCheck {
  store: KeyStore;
  repo: MessageKeysRepository;
  instances: readonly InstanceReport[];
  graceMs: number;
  /**
   * Unix ms of the oldest message still in a domain stream (appended, not yet in MySQL),
   * or null when every stream is empty.
   */
  oldestUnstoredAt: number | null;
  now?: number;
}

/** What stops `id` from being retired; empty when it may go. */
export async function retirementBlockers(kind: SecretKind, id: string, check: RetirementCheck): Promise<string[]> {
  const { store, repo, instances, graceMs } = check;
  const now = check.now ?? Date.now();
  const ids = store.ids(kind);
  if (!ids.all.includes(id)) return [`${id} is not in the ${kind} file`];
  if (ids.active === id) return [`${id} is the active ${kind} here; rotate or activate another first`];
  const blockers: string[] = [];
  for (const instance of instances) {
    const keys = instance.keys;
    if (!keys) {
      blockers.push(`broker ${instance.instance_id} does not report its keys right now; try again`);
      continue;
    }
    const [active, since] =
      kind === 'key' ? [keys.active_key_id, keys.active_key_since] : [keys.pepper_id, keys.active_pepper_since];
    if (active === id)
      blockers.push(`broker ${instance.instance_id} (${instance.host}) still uses ${id}: give it the current key file`);
    else if (now - since < graceMs)
      blockers.push(
        `broker ${instance.instance_id} switched to ${active} ${Math.round((now - since) / 1000)} s ago; wait ${Math.ceil((graceMs - (now - since)) / 1000)} s`,
      );
  }
  if (blockers.length > 0) return blockers;
  if (check.oldestUnstoredAt !== null) {
    const switchedAt = Math.max(
      0,
      ...instances.map((i) => (kind === 'key' ? i.keys!.active_key_since : i.keys!.active_pepper_since)),
    );
    // With no broker reporting, nothing tells when the switch happened: any backlog may use it.
    if (instances.length === 0 || check.oldestUnstoredAt <= switchedAt + graceMs)
      blockers.push(
        `messages queued since ${new Date(check.oldestUnstoredAt).toISOString()} are not stored yet and may be sealed with ${id}; wait until the backlog is stored`,
      );
    if (blockers.length > 0) return blockers;
  }
  if (await repo.isReferenced(COLUMN_OF[kind], id))
    blockers.push(`rows still use ${id}: run mb keys reencrypt${kind === 'pepper' ? ' --pepper' : ''} first`);
  return blockers;
}
