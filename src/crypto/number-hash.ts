/**
 * What the database keeps of a phone number besides its envelope: a keyed hash to look it
 * up by, and a masked form to show. A plain or salted SHA-256 of an E.164 number falls to
 * enumeration in seconds (there are only ~10^15 of them); an HMAC under a secret pepper
 * that never leaves the encryption actor does not.
 */
import { createHmac, type KeyObject } from 'node:crypto';

/**
 * Lowercase hex HMAC-SHA256 of the number under `pepper`. The number is hashed exactly as
 * given: callers pass canonical E.164 (`+` and digits, no spaces), as the front validates.
 * A pepper given as a KeyObject (`createSecretKey`, made once per pepper) hashes the same
 * and costs less: createHmac over a Buffer imports the key afresh on every call
 * (~1.3 µs of ~3.7 µs, docs/performance-history.md).
 */
export function hashNumber(pepper: Buffer | KeyObject, e164: string): string {
  return createHmac('sha256', pepper).update(e164, 'utf8').digest('hex');
}

/** Numbers at least this long keep 3 leading and 4 trailing digits (`+123****8901`). */
const FULL_FORM_DIGITS = 11;
const LEAD_DIGITS = 3;
const TRAIL_DIGITS = 4;

/**
 * Masks a number for display.
 *
 * Rule (n = number of digits after the `+`):
 * - n ≥ 11: keep the first 3 and the last 4 digits, one `*` per hidden digit
 *   (`+12345678901` → `+123****8901`); at least 4 digits are hidden.
 * - n ≤ 10: keep floor(n / 2) digits in all, so at least half are hidden: up to 3 of them
 *   leading, at least as many trailing (the end is what a person recognises).
 *   `+1234567890` → `+12*****890`, `+12345678` → `+12****78`, `+1234567` → `+1****67`,
 *   `+12` → `+*2`, `+1` → `+*`.
 *   The 3 + 4 form on an 8-digit number would hide a single digit, which is no mask at all.
 * - Anything that is not `+` and 1–15 digits is masked whole (`***`): the front validates
 *   numbers, and an odd value must not be echoed back half-visible.
 */
export function maskNumber(e164: string): string {
  if (!/^\+\d{1,15}$/.test(e164)) return '***';
  const digits = e164.slice(1);
  const n = digits.length;
  let lead: number;
  let trail: number;
  if (n >= FULL_FORM_DIGITS) {
    lead = LEAD_DIGITS;
    trail = TRAIL_DIGITS;
  } else {
    const kept = Math.floor(n / 2);
    lead = Math.min(LEAD_DIGITS, Math.floor(kept / 2));
    trail = kept - lead;
  }
  return `+${digits.slice(0, lead)}${'*'.repeat(n - lead - trail)}${digits.slice(n - trail)}`;
}
