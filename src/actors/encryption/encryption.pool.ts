/**
 * Where a batch runs: small ones inline on the actor thread (a thread hop costs more than
 * AES on 50 messages), large ones (delivery backlogs, re-encryption after a key rotation)
 * split across a small piscina pool.
 *
 *   encryption actor thread ──run(chunk, keys)──▶ piscina thread 1 ─┐
 *        (EncryptionService inline              ▶ piscina thread 2 ─┴─▶ results, in order
 *         when items < threshold)
 *
 * The pool starts empty (`minThreads: 0`) and its threads leave after `idleTimeoutMs`, so
 * a broker that never sees a large batch never pays for them.
 */
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { BrokerError, fromErrorData } from '../../errors.js';
import type { OpenInput, OpenResult, SealedMessage, SealInput } from '../../crypto/crypto.types.js';
import type { TaskName, TaskTypes } from './encryption.pool-protocol.js';
import type { EncryptionService } from '../../crypto/encryption.service.js';

export interface EncryptionPoolOptions {
  /**
   * Batches with at least this many items go to the pool.
   * @defaultValue 512 (delivery's default batch of 500 stays inline)
   */
  threshold?: number;
  /** @defaultValue 2 */
  maxThreads?: number;
  /** An idle pool thread exits after this long. @defaultValue 30_000 */
  idleTimeoutMs?: number;
  /** Most items in one task; a larger batch is queued as several tasks. @defaultValue 1024 */
  maxChunk?: number;
  /**
   * Path of the compiled task module. @defaultValue `encryption.pool-task.js` beside this
   * module: the actor runs from dist/, where that file exists (the .ts source has none).
   */
  taskFile?: string;
}

export class EncryptionPool {
  readonly threshold: number;
  private readonly maxChunk: number;
  private readonly piscina: Piscina;

  constructor(
    private readonly service: EncryptionService,
    options: EncryptionPoolOptions = {},
  ) {
    this.threshold = options.threshold ?? 512;
    this.maxChunk = options.maxChunk ?? 1024;
    this.piscina = new Piscina({
      filename: options.taskFile ?? fileURLToPath(new URL('./encryption.pool-task.js', import.meta.url)),
      minThreads: 0,
      maxThreads: options.maxThreads ?? 2,
      idleTimeout: options.idleTimeoutMs ?? 30_000,
    });
  }

  /** Threads alive right now (0 when idle), for health. */
  get threads(): number {
    return this.piscina.threads.length;
  }

  async seal(items: SealInput[]): Promise<SealedMessage[]> {
    if (items.length < this.threshold) return this.service.seal(items);
    // Read once for the whole batch: every chunk seals under the same key and pepper even
    // if a rotation lands while the chunks run.
    const { keyId, key, pepperId, pepper, envelopeVersion } = this.service.sealMaterial();
    return this.runChunks('seal', items, (chunk) => ({ keyId, key, pepperId, pepper, envelopeVersion, items: chunk }));
  }

  async open(items: OpenInput[]): Promise<OpenResult[]> {
    if (items.length < this.threshold) return this.service.open(items);
    const keys = this.service.keyMaterial().map(({ id, key }) => ({ id, key: key as Uint8Array }));
    return this.runChunks('open', items, (chunk) => ({ keys, items: packEnvelopes(chunk) }));
  }

  /** Hashing is a few HMACs on short strings: always inline. */
  hash(numbers: string[]): string[][] {
    return this.service.hash(numbers);
  }

  /** Lets queued and running tasks finish, then stops the threads. */
  async close(): Promise<void> {
    await this.piscina.close();
  }

  private async runChunks<N extends TaskName, In, Out>(
    name: N,
    items: In[],
    task: (chunk: In[]) => TaskTypes[N]['task'],
  ): Promise<Out[]> {
    // Even chunks over the threads, none larger than maxChunk, so both threads finish together.
    const perThread = Math.ceil(items.length / this.piscina.options.maxThreads);
    const size = Math.min(this.maxChunk, perThread);
    const runs: Promise<TaskTypes[N]['result']>[] = [];
    for (let at = 0; at < items.length; at += size) {
      runs.push(this.runTask(name, task(items.slice(at, at + size))));
    }
    const results = await Promise.all(runs);
    const out: Out[] = [];
    for (const result of results) {
      if (!result.ok) throw fromErrorData(result.error);
      for (const value of result.value as Out[]) out.push(value);
    }
    return out;
  }

  private async runTask<N extends TaskName>(name: N, task: TaskTypes[N]['task']): Promise<TaskTypes[N]['result']> {
    try {
      return (await this.piscina.run(task, { name })) as TaskTypes[N]['result'];
    } catch (error) {
      // A thread that died (or a pool closed under us) is not the caller's fault.
      throw new BrokerError('INTERNAL_ERROR', `encryption pool task ${name} failed: ${(error as Error).message}`);
    }
  }
}

/**
 * Copies a chunk's envelopes into one buffer of its own. Envelopes arrive as views into
 * the caller's batch buffer, and cloning a view clones its whole ArrayBuffer: without
 * this, every chunk would carry the entire batch to its thread.
 */
function packEnvelopes(items: OpenInput[]): OpenInput[] {
  let total = 0;
  for (const item of items) total += byteLength(item.body_enc) + byteLength(item.sender_enc);
  const packed = new Uint8Array(total);
  let at = 0;
  const copy = (bytes: Uint8Array) => {
    packed.set(bytes, at);
    at += bytes.byteLength;
    return packed.subarray(at - bytes.byteLength, at);
  };
  return items.map((item) => {
    // A malformed item is passed through as is: the task reports it per item.
    if (!(item.body_enc instanceof Uint8Array)) return item;
    const body_enc = copy(item.body_enc);
    return item.sender_enc instanceof Uint8Array
      ? { message_id: item.message_id, body_enc, sender_enc: copy(item.sender_enc) }
      : { message_id: item.message_id, body_enc };
  });
}

function byteLength(bytes: unknown): number {
  return bytes instanceof Uint8Array ? bytes.byteLength : 0;
}
