/** Requests the front sends to the ingest actor. */
import type { EnqueueRequest, EnqueueResult } from '../../ingest/ingest.types.js';
import type { ControlProtocol } from '../actor.protocol.js';
import type { KeyIdsReport } from '../../crypto/crypto.types.js';

export type IngestProtocol = ControlProtocol & {
  /** Checks and appends a batch of requests (one pipeline: group commit); answers per request once Redis has. */
  'ingest.append': { request: { requests: EnqueueRequest[] }; response: { results: EnqueueResult[] } };
  /** Unstored backlog per domain (stream length). */
  'ingest.depth': { request: Record<string, never>; response: { depth: Record<string, number> } };
  /**
   * The key and pepper ids it seals with, never key bytes: for the instance heartbeat that
   * `mb keys` reads (the ingest actor always runs; the encryption actor may be parked).
   */
  'ingest.keys': { request: Record<string, never>; response: KeyIdsReport };
};
