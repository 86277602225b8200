/** A data key and pepper of the test's own, to seal messages as the ingest actor does. */
import { randomBytes } from 'node:crypto';
import type { SealedMessage, SealInput } from '../../src/crypto/crypto.types.js';
import { sealBatch, type SealMaterial } from '../../src/crypto/encryption.batch.js';

export function testSealMaterial(): SealMaterial {
  return { keyId: 'k1', key: randomBytes(32), pepperId: 'p1', pepper: randomBytes(32) };
}

/** A seal function over fresh test keys (for EnqueuePlanner). */
export function testSealer(
  material: SealMaterial = testSealMaterial(),
): (items: readonly SealInput[]) => SealedMessage[] {
  return (items) => sealBatch(material, items);
}
