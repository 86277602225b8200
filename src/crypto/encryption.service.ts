/**
 * The encryption actor's three operations over a KeyStore, inline on the calling thread.
 * `EncryptionPool` decides when a batch is large enough to go to threads instead.
 */
import type { OpenInput, OpenResult, SealedMessage, SealInput } from './crypto.types.js';
import { hashBatch, openBatch, sealBatch, type SealMaterial } from './encryption.batch.js';
import type { KeyLookup } from './envelope.js';
import type { DataKey, KeyStore } from './key-store.js';

export class EncryptionService {
  private readonly lookupKey: KeyLookup;

  constructor(private readonly store: KeyStore) {
    this.lookupKey = (id) => store.keyById(id);
  }

  /** Body and sender sealed under the active data key (AAD = message id), sender hashed and masked. */
  seal(items: readonly SealInput[]): SealedMessage[] {
    return sealBatch(this.sealMaterial(), items);
  }

  /** Per-item results: a bad envelope yields `{ok:false}` for that item only. */
  open(items: readonly OpenInput[]): OpenResult[] {
    return openBatch(this.lookupKey, items);
  }

  /** For each number, one hash per known pepper, the active pepper's first. */
  hash(numbers: readonly string[]): string[][] {
    return hashBatch(
      this.store.allPeppers().map((p) => p.pepper),
      numbers,
    );
  }

  /**
   * The active key and pepper, read once per batch: a rotation that lands mid-batch must
   * not split one message's two envelopes across two keys.
   */
  sealMaterial(): SealMaterial {
    const { id: keyId, key } = this.store.activeKey();
    const { id: pepperId, pepper } = this.store.activePepper();
    return { keyId, key, pepperId, pepper };
  }

  /** Every data key, for pool threads that open envelopes sealed before a rotation. */
  keyMaterial(): DataKey[] {
    return this.store.allKeys();
  }
}
