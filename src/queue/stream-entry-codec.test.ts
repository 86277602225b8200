import { describe, expect, it } from 'vitest';
import { packEntry, unpackEntry } from './stream-entry-codec.js';
import type { StreamEntryFields } from './stream-entry.types.js';

function fields(overrides: Partial<StreamEntryFields> = {}): StreamEntryFields {
  return {
    m: '01890a5d-ac96-774b-bcce-b302099a8057',
    c: '42',
    n: 'gateway-7',
    be: Buffer.from([2, 2, 0, 255, 1, 2, 3]),
    se: Buffer.alloc(0),
    h: 'ab'.repeat(32),
    p: 'p1',
    sm: '+141****0123',
    md: '',
    q: '2026-12-07T05:00:00.000Z',
    rt: '',
    tg: '',
    rm: '',
    ...overrides,
  };
}

describe('packEntry / unpackEntry', () => {
  it('gives back every field, the envelopes byte for byte and as views of the packed bytes', () => {
    const sent = fields({ md: '{"ref":"ünïcödé ✓"}', rt: 'uk', tg: 'eu', rm: 'mt.gb' });
    const packed = packEntry(sent);
    const read = unpackEntry(packed)!;
    expect(read).toEqual(sent);
    expect(read.be.buffer).toBe(packed.buffer);
  });

  it('keeps lengths past one varint byte (a 1,000-character body of 4-byte characters, large metadata)', () => {
    const sent = fields({ be: Buffer.alloc(4_100, 7), se: Buffer.alloc(200, 1), md: 'x'.repeat(70_000) });
    expect(unpackEntry(packEntry(sent))).toEqual(sent);
  });

  it('reads a packed entry at an offset of a larger buffer (as a decoded reply may hand it)', () => {
    const packed = packEntry(fields());
    const inside = Buffer.concat([Buffer.from('prefix'), packed, Buffer.from('suffix')]);
    expect(unpackEntry(inside.subarray(6, 6 + packed.length))).toEqual(fields());
  });

  it('refuses what it cannot read whole: an unknown format, a truncated entry, bytes left over', () => {
    const packed = packEntry(fields());
    expect(unpackEntry(Buffer.alloc(0))).toBeNull();
    expect(unpackEntry(Buffer.concat([Buffer.from([9]), packed.subarray(1)]))).toBeNull();
    for (const cut of [1, 2, 5, packed.length - 1])
      expect(unpackEntry(packed.subarray(0, cut)), `cut ${cut}`).toBeNull();
    expect(unpackEntry(Buffer.concat([packed, Buffer.from([0])]))).toBeNull();
    expect(unpackEntry(Buffer.from([1, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]))).toBeNull();
  });
});
