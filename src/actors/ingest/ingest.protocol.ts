/** Requests the front sends to the ingest actor. */
import type { EnqueueRequest, EnqueueResult } from '../../ingest/ingest.types.js';
import type { ControlProtocol } from '../actor.protocol.js';

export type IngestProtocol = ControlProtocol & {
  /** Checks and appends a batch of requests (one pipeline: group commit); answers per request once Redis has. */
  'ingest.append': { request: { requests: EnqueueRequest[] }; response: { results: EnqueueResult[] } };
  /** Unstored backlog per domain (stream length). */
  'ingest.depth': { request: Record<string, never>; response: { depth: Record<string, number> } };
};
