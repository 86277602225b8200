/**
 * Requests served by the encryption actor, the only holder of the data keys and the HMAC
 * pepper. Every request carries a batch: one port round trip per batch, not per message.
 */
import type { KeyIdsReport, OpenInput, OpenResult, SealedMessage, SealInput } from '../../crypto/crypto.types.js';
import type { ControlProtocol } from '../actor.protocol.js';

export type EncryptionProtocol = ControlProtocol & {
  'encryption.seal': { request: { items: SealInput[] }; response: { items: SealedMessage[] } };
  'encryption.open': { request: { items: OpenInput[] }; response: { items: OpenResult[] } };
  /** Hashes numbers under every known pepper (so lookups still find rows after a pepper rotation). */
  'encryption.hash': { request: { numbers: string[] }; response: { hashes: string[][] } };
  /** Key ids only, never key bytes: for the instance heartbeat that `mb keys` reads. */
  'encryption.keys': { request: Record<string, never>; response: KeyIdsReport };
};

/** The slice of the protocol peers (delivery, front) may call. */
export type EncryptionCalls = Pick<EncryptionProtocol, 'encryption.seal' | 'encryption.open' | 'encryption.hash'>;
