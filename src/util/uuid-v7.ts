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

const HEX = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, '0'));

export function uuidV7(now = Date.now()): string {
  if (next === POOL_IDS) {
    randomFillSync(pool);
    next = 0;
  }
  const b = pool.subarray(next * 16, next * 16 + 16);
  next++;
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
  return (
    HEX[b[0]!]! +
    HEX[b[1]!]! +
    HEX[b[2]!]! +
    HEX[b[3]!]! +
    '-' +
    HEX[b[4]!]! +
    HEX[b[5]!]! +
    '-' +
    HEX[b[6]!]! +
    HEX[b[7]!]! +
    '-' +
    HEX[b[8]!]! +
    HEX[b[9]!]! +
    '-' +
    HEX[b[10]!]! +
    HEX[b[11]!]! +
    HEX[b[12]!]! +
    HEX[b[13]!]! +
    HEX[b[14]!]! +
    HEX[b[15]!]!
  );
}

/** The millisecond a version 7 UUID was made at. */
export function uuidV7Time(uuid: string): number {
  return Number.parseInt(uuid.slice(0, 8) + uuid.slice(9, 13), 16);
}
