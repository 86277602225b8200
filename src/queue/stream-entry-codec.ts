/**
 * A domain stream entry packed into one field (`d`): the message's fields in a fixed order,
 * each as a LEB128 length and its bytes, after a format byte.
 *
 * Why one field: a stream entry of thirteen fields made every message cost eleven script
 * arguments on the way in (each one converted and written by ioredis) and twenty-six
 * separately decoded buffers on the way out (XREADGROUP), besides the field names Redis
 * stores and the AOF repeats per entry. Packed, the ingest actor hands the script four
 * arguments per message and the delivery actor decodes two buffers per entry, of which
 * the envelopes are views, not copies (docs/performance.md).
 *
 * Entries of the thirteen-field form (and the plaintext ones of before sealing) are still
 * read (stream-reader.ts), and `queue.entry_format: fields` keeps writing them while an
 * older broker shares the streams (a rolling upgrade, docs/deploy.md §10).
 */
import type { StreamEntryFields } from './stream-entry.types.js';

/** The field a packed entry is stored under. */
export const PACKED_FIELD = 'd';
const FORMAT = 1;

const TEXT_FIELDS = ['m', 'c', 'n', 'h', 'p', 'sm', 'md', 'q', 'rt', 'tg', 'rm'] as const;

/** Packs an entry; `be` and `se` are copied in as they are. */
export function packEntry(fields: StreamEntryFields): Buffer {
  let size = 1 + varintLength(fields.be.length) + fields.be.length + varintLength(fields.se.length) + fields.se.length;
  const lengths = new Array<number>(TEXT_FIELDS.length);
  for (let i = 0; i < TEXT_FIELDS.length; i++) {
    const length = Buffer.byteLength(fields[TEXT_FIELDS[i]!], 'utf8');
    lengths[i] = length;
    size += varintLength(length) + length;
  }
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  out[at++] = FORMAT;
  at = writeBytes(out, at, fields.be);
  at = writeBytes(out, at, fields.se);
  for (let i = 0; i < TEXT_FIELDS.length; i++) {
    at = writeVarint(out, at, lengths[i]!);
    at += out.write(fields[TEXT_FIELDS[i]!], at, lengths[i]!, 'utf8');
  }
  return out;
}

/**
 * The fields of a packed entry, or null when it is not one this release can read (an
 * unknown format byte, a length past the end, bytes left over). `be` and `se` are views
 * into `packed`.
 */
export function unpackEntry(packed: Buffer): StreamEntryFields | null {
  if (packed.length === 0 || packed[0] !== FORMAT) return null;
  const cursor = { at: 1, start: 0 };
  if (!nextField(packed, cursor)) return null;
  const be = packed.subarray(cursor.start, cursor.at);
  if (!nextField(packed, cursor)) return null;
  const se = packed.subarray(cursor.start, cursor.at);
  const t: string[] = [];
  for (let i = 0; i < TEXT_FIELDS.length; i++) {
    if (!nextField(packed, cursor)) return null;
    t.push(cursor.start === cursor.at ? '' : packed.toString('utf8', cursor.start, cursor.at));
  }
  if (cursor.at !== packed.length) return null;
  const [m = '', c = '', n = '', h = '', p = '', sm = '', md = '', q = '', rt = '', tg = '', rm = ''] = t; // TEXT_FIELDS' order
  return { m, c, n, be, se, h, p, sm, md, q, rt, tg, rm };
}

function varintLength(value: number): number {
  let length = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 0x80);
    length++;
  }
  return length;
}

function writeVarint(out: Buffer, at: number, value: number): number {
  while (value >= 0x80) {
    out[at++] = (value & 0x7f) | 0x80;
    value = Math.floor(value / 0x80);
  }
  out[at++] = value;
  return at;
}

function writeBytes(out: Buffer, at: number, bytes: Buffer): number {
  at = writeVarint(out, at, bytes.length);
  bytes.copy(out, at);
  return at + bytes.length;
}

/** Moves `cursor` over the next length-prefixed field (its bytes: start…at); false past the end. */
function nextField(packed: Buffer, cursor: { at: number; start: number }): boolean {
  let length = 0;
  let scale = 1;
  for (;;) {
    if (cursor.at >= packed.length || scale > 2 ** 28) return false;
    const byte = packed[cursor.at++]!;
    length += (byte & 0x7f) * scale;
    if (byte < 0x80) break;
    scale *= 0x80;
  }
  if (cursor.at + length > packed.length) return false;
  cursor.start = cursor.at;
  cursor.at += length;
  return true;
}
