/**
 * Runs in a piscina thread of the encryption actor (loaded by path from dist/, never
 * imported): one chunk of a large batch, with the key material the task carries.
 */
import { toErrorData } from '../../errors.js';
import type { OpenResult, SealedMessage } from '../../crypto/crypto.types.js';
import { openBatch, sealBatch } from '../../crypto/encryption.batch.js';
import { toBuffer } from '../../crypto/envelope.js';
import type { OpenTask, SealTask, TaskResult } from './encryption.pool-protocol.js';

export function seal(task: SealTask): TaskResult<SealedMessage[]> {
  try {
    const material = {
      keyId: task.keyId,
      key: toBuffer(task.key),
      pepperId: task.pepperId,
      pepper: toBuffer(task.pepper),
      envelopeVersion: task.envelopeVersion,
    };
    return { ok: true, value: sealBatch(material, task.items) };
  } catch (error) {
    return { ok: false, error: toErrorData(error) };
  } finally {
    // The copy of the keys in this thread dies with the task, not at the next GC.
    task.key.fill(0);
    task.pepper.fill(0);
  }
}

export function open(task: OpenTask): TaskResult<OpenResult[]> {
  try {
    const keys = new Map(task.keys.map(({ id, key }) => [id, toBuffer(key)]));
    return { ok: true, value: openBatch((id) => keys.get(id), task.items) };
  } catch (error) {
    return { ok: false, error: toErrorData(error) };
  } finally {
    for (const { key } of task.keys) key.fill(0);
  }
}
