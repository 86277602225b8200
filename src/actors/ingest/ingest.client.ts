/**
 * The front's side of the ingest actor. Requests that arrive in the same turn of the
 * event loop travel to the actor as one `ingest.append` (one postMessage, one Redis
 * pipeline): group commit without adding a timer to anyone's latency.
 */
import { BrokerError, fromErrorData, queueOutcomeUnknown } from '../../errors.js';
import type { RpcPeer } from '../../rpc/rpc-peer.js';
import type { IngestProtocol } from './ingest.protocol.js';
import type { EnqueueOutcome, EnqueueRequest } from '../../ingest/ingest.types.js';

interface Waiting {
  request: EnqueueRequest;
  resolve: (outcome: EnqueueOutcome) => void;
  reject: (error: BrokerError) => void;
}

export class IngestClient {
  private queue: Waiting[] = [];
  private scheduled = false;

  constructor(
    private readonly rpc: RpcPeer<IngestProtocol>,
    /** Most messages per `ingest.append` (a batch request is never split). */
    private readonly maxBatch: number,
    private readonly timeoutMs: number,
    /** A reason not to try at all (Redis said it cannot keep messages), or undefined. */
    private readonly refusal: () => BrokerError | undefined = () => undefined,
  ) {}

  /** Resolves once Redis has answered the request's script; rejects with a BrokerError (503) otherwise. */
  enqueue(request: EnqueueRequest): Promise<EnqueueOutcome> {
    const refused = this.refusal();
    if (refused) return Promise.reject(refused);
    if (!this.rpc.connected)
      return Promise.reject(
        new BrokerError('QUEUE_UNAVAILABLE', 'The ingest component is restarting; the message was not accepted'),
      );
    return new Promise((resolve, reject) => {
      this.queue.push({ request, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    let batch: Waiting[] = [];
    let messages = 0;
    for (const waiting of this.queue) {
      const size = Math.max(1, waiting.request.messages.length);
      if (batch.length > 0 && messages + size > this.maxBatch) {
        this.send(batch);
        batch = [];
        messages = 0;
      }
      batch.push(waiting);
      messages += size;
    }
    this.queue = [];
    if (batch.length > 0) this.send(batch);
  }

  private send(batch: Waiting[]): void {
    this.rpc.call('ingest.append', { requests: batch.map((w) => w.request) }, { timeoutMs: this.timeoutMs }).then(
      ({ results }) => {
        batch.forEach((waiting, i) => {
          const result = results[i];
          if (result?.ok) waiting.resolve(result);
          else waiting.reject(result ? fromErrorData(result.error) : new BrokerError('QUEUE_UNAVAILABLE'));
        });
      },
      (error: BrokerError) => {
        // The actor died or timed out: whether Redis got the batch is unknown, so nobody
        // gets a 202 (the client retries; an Idempotency-Key makes that safe), and the
        // answer says the outcome is unknown.
        const refusal = queueOutcomeUnknown(error.code);
        for (const waiting of batch) waiting.reject(refusal);
      },
    );
  }
}
