/** What sealing and opening take and give: the envelope's inputs and outputs, with no thread in sight. */
import type { ErrorData } from '../errors.js';

export interface SealInput {
  message_id: string;
  sender_number: string;
  message_body: string;
}

/**
 * The binary fields of one sealed batch are views into one buffer the batch owns: read each
 * with its byteOffset/byteLength (`Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength)`).
 */
export interface SealedMessage {
  /**
   * Versioned AES-256-GCM envelope (v2) of the sender number and the body together, message
   * id bound as AAD (src/crypto/envelope.ts).
   */
  body_enc: Uint8Array;
  /** Empty: v2 holds the number in `body_enc` (v1 rows of before kept its own envelope here). */
  sender_enc: Uint8Array;
  /** Id of the data key the envelope was sealed with. */
  key_id: string;
  /** Hex HMAC-SHA256 of the E.164 number under the active pepper. */
  sender_hash: string;
  /** Id of the pepper that made sender_hash. */
  pepper_id: string;
  /** `+123****7890` */
  sender_masked: string;
}

export interface OpenInput {
  message_id: string;
  body_enc: Uint8Array;
  /**
   * The row's `sender_enc` (v1: the number's envelope; v2: empty) when the number is
   * wanted back; absent for the body alone.
   */
  sender_enc?: Uint8Array | null;
}

export type OpenResult = { ok: true; message_body: string; sender_number?: string } | { ok: false; error: ErrorData };

/** Which keys and peppers this broker holds and uses, and since when (ms) the active ones are active. */
export interface KeyIdsReport {
  active_key_id: string;
  key_ids: string[];
  active_key_since: number;
  pepper_id: string;
  pepper_ids: string[];
  active_pepper_since: number;
  /** Each key's and pepper's fingerprint (an HMAC of a fixed label under it, never the secret): src/keys/secret-identity.ts. */
  fingerprints?: Array<{ kind: 'key' | 'pepper'; secret_id: string; fingerprint: string }>;
}
