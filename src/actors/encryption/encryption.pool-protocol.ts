/**
 * What the actor thread (`encryption.pool.ts`) and its pool threads
 * (`encryption.pool-task.ts`) exchange: the only module both sides import.
 *
 * Key material travels in each task rather than in the pool's `workerData`: a rotation
 * then needs no pool restart, and the threads hold keys only while they work. The pool
 * threads belong to the encryption actor, so the keys stay in its custody.
 */
import type { ErrorData } from '../../errors.js';
import type { EnvelopeVersion } from '../../crypto/envelope.js';
import type { OpenInput, OpenResult, SealedMessage, SealInput } from '../../crypto/crypto.types.js';

export interface SealTask {
  keyId: string;
  key: Uint8Array;
  pepperId: string;
  pepper: Uint8Array;
  envelopeVersion?: EnvelopeVersion;
  items: SealInput[];
}

export interface OpenTask {
  /** Every known data key: a page of rows may span several rotations. */
  keys: { id: string; key: Uint8Array }[];
  items: OpenInput[];
}

/** Errors cross the thread as data; a BrokerError would arrive without its code. */
export type TaskResult<T> = { ok: true; value: T } | { ok: false; error: ErrorData };

/** Named exports of the task file, passed to `piscina.run(task, { name })`. */
export type TaskName = 'seal' | 'open';

export interface TaskTypes {
  seal: { task: SealTask; result: TaskResult<SealedMessage[]> };
  open: { task: OpenTask; result: TaskResult<OpenResult[]> };
}
