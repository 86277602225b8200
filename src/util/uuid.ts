/**
 * UUID version 7 (RFC 9562 §5.7): 48 bits of Unix time in milliseconds, then 74 random
 * bits. Message ids are these, not version 4, because `messages.message_id` carries a
 * unique index that every insert updates: random ids land on random pages of that B-tree
 * (once the table outgrows the buffer pool, a page read per insert), time-ordered ids land
 * on its right edge like the auto-increment key. They also sort by acceptance time.
 * The time they reveal is the message's own `queued_at`, which its client is told anyway.
 *
 * Node 24 has `crypto.randomUUIDv7()`, Node 22 does not: this is the same format for both,
 * with entropy drawn in bulk as Node's `randomUUID()` does.
 */
import { randomFillSync } from 'node:crypto';

const POOL_IDS = 128;
const pool = Buffer.alloc(16 * POOL_IDS);
let next = POOL_IDS;

// The text is written into one scratch buffer and read out as one string: building it by
// `+` made nineteen intermediate strings per id (≈ 0.7 KB of garbage on the hot path).
const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1');
const text = Buffer.alloc(36, '-'.charCodeAt(0));
// Where each of the 16 bytes' two hex digits go in the 36 characters.
const AT = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];

/** The next 16 random bytes of the pool (a view, valid until the next call). */
function randomBytes16(): Buffer {
  if (next === POOL_IDS) {
    randomFillSync(pool);
    next = 0;
  }
  return pool.subarray(next * 16, ++next * 16);
}

function format(b: Buffer): string {
  for (let i = 0; i < 16; i++) {
    const byte = b[i]!;
    text[AT[i]!] = HEX_DIGITS[byte >>> 4]!;
    text[AT[i]! + 1] = HEX_DIGITS[byte & 0x0f]!;
  }
  return text.toString('latin1', 0, 36);
}

export function uuidV7(now = Date.now()): string {
  const b = randomBytes16();
  // 48-bit big-endian milliseconds (above 2^32: split, bitwise operators are 32-bit).
  const high = Math.floor(now / 0x1_0000_0000);
  const low = now >>> 0;
  b[0] = (high >>> 8) & 0xff;
  b[1] = high & 0xff;
  b[2] = (low >>> 24) & 0xff;
  b[3] = (low >>> 16) & 0xff;
  b[4] = (low >>> 8) & 0xff;
  b[5] = low & 0xff;
  b[6] = 0x70 | (b[6]! & 0x0f);
  b[8] = 0x80 | (b[8]! & 0x3f);
  return format(b);
}

/** A version 4 (random) UUID, as `crypto.randomUUID()` makes, from the same pool: request ids. */
export function uuidV4(): string {
  const b = randomBytes16();
  b[6] = 0x40 | (b[6]! & 0x0f);
  b[8] = 0x80 | (b[8]! & 0x3f);
  return format(b);
}

/** The millisecond a version 7 UUID was made at. */
export function uuidV7Time(uuid: string): number {
  return Number.parseInt(uuid.slice(0, 8) + uuid.slice(9, 13), 16);
}
