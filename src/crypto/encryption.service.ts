/**
 * The encryption actor's three operations over a KeyStore, inline on the calling thread.
 * `EncryptionPool` decides when a batch is large enough to go to threads instead.
 */
import { createSecretKey, type KeyObject } from 'node:crypto';
import type { OpenInput, OpenResult, SealedMessage, SealInput } from './crypto.types.js';
import { hashBatch, openBatch, sealBatch, type SealMaterial } from './encryption.batch.js';
import { ENVELOPE_V2, type EnvelopeVersion, type KeyLookup } from './envelope.js';
import type { DataKey, KeyStore } from './key-store.js';

export class EncryptionService {
  private readonly lookupKey: KeyLookup;

  /**
   * The active pepper as a KeyObject, made again when the active pepper changes: an HMAC
   * under a KeyObject skips importing the key on every call (docs/performance-history.md). Kept
   * only here, on the thread that holds the store for its whole life anyway; pool threads
   * get the bytes, as before.
   */
  private pepperKey: { pepper: Buffer; key: KeyObject } | undefined;

  /** `envelopeVersion`: what new seals write (`secrets.envelope_version`); opening takes both. */
  constructor(
    private readonly store: KeyStore,
    private readonly envelopeVersion: EnvelopeVersion = ENVELOPE_V2,
  ) {
    this.lookupKey = (id) => store.keyById(id);
  }

  /** Number and body sealed in one envelope under the active data key (AAD = message id), number hashed and masked. */
  seal(items: readonly SealInput[]): SealedMessage[] {
    const material = this.sealMaterial();
    const { pepper } = material;
    if (this.pepperKey?.pepper !== pepper) this.pepperKey = { pepper, key: createSecretKey(pepper) };
    return sealBatch({ ...material, pepper: this.pepperKey.key }, items);
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
  sealMaterial(): SealMaterial & { pepper: Buffer } {
    const { id: keyId, key } = this.store.activeKey();
    const { id: pepperId, pepper } = this.store.activePepper();
    return { keyId, key, pepperId, pepper, envelopeVersion: this.envelopeVersion };
  }

  /** Every data key, for pool threads that open envelopes sealed before a rotation. */
  keyMaterial(): DataKey[] {
    return this.store.allKeys();
  }
}
