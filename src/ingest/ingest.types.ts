/** What the front hands the ingest side and what it answers: one request, its messages, its outcome. */
import type { ErrorData } from '../errors.js';

/** One accepted message as it is written to the domain's Redis stream. */
export interface NewMessage {
  message_id: string;
  sender_number: string;
  message_body: string;
  /** JSON text of the optional metadata object, or '' when absent. */
  metadata: string;
  /** ISO-8601 time the front accepted the request. */
  queued_at: string;
  /**
   * The route the front chose at submit (src/routing/route-choice.ts), and its target.
   * Absent ('') = the domain's default target (what an entry of before routing means).
   */
  route?: string;
  target?: string;
  /** What the route matched (route-choice.ts `RouteChoice.match`): an amqp routing key's `{match}`. */
  route_match?: string;
}

/** One API request: a single message, or the valid items of a batch (possibly none). */
export interface EnqueueRequest {
  client_id: number;
  client_name: string;
  /** The certificate CN, `name.domain`: per-client limits are keyed by it. */
  common_name: string;
  domain: string;
  /** null when the request carries no Idempotency-Key. */
  idempotency: { key: string; hash: string } | null;
  /** Remembered with the outcome, so a replayed batch shows the original ids. */
  tracking_id: string;
  timestamp: string;
  messages: NewMessage[];
}

/** The client's rate-limit window after this request; null when it has no limit. */
export interface RateState {
  limit: number;
  remaining: number;
  reset_ms: number;
  window_ms: number;
}

/** The client's daily quota after this request; null when it has none. */
export interface QuotaState {
  limit: number;
  remaining: number;
  /** The next UTC midnight. */
  resets_at: string;
}

export type EnqueueOutcome =
  /** positions[i] ≥ 1: message i is durable at that place; -1 refused by the rate limit, -2 by the quota. */
  | { ok: true; kind: 'done'; positions: number[]; rate: RateState | null; quota: QuotaState | null }
  /** The Idempotency-Key was used for the same request: its record, nothing appended. */
  | { ok: true; kind: 'replay'; record: string }
  /** The Idempotency-Key was used for a different request. */
  | { ok: true; kind: 'reused' };

export type EnqueueResult = EnqueueOutcome | { ok: false; error: ErrorData };
