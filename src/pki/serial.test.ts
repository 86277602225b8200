import { describe, expect, it } from 'vitest';
import {
  normalizeSerialHex,
  randomSerialHex,
  serialFromBigInt,
  serialToBigInt,
  tryNormalizeSerialHex,
} from './serial.js';

describe('normalizeSerialHex', () => {
  it('produces what openssl and Node print, lowercased', () => {
    expect(normalizeSerialHex('0A1B2C')).toBe('0a1b2c'); // whole bytes: the leading zero nibble stays
    expect(normalizeSerialHex('A1B2C')).toBe('0a1b2c');
    expect(normalizeSerialHex('0a:1b:2c')).toBe('0a1b2c');
    expect(normalizeSerialHex('0x0A1B2C')).toBe('0a1b2c');
    expect(normalizeSerialHex('008F')).toBe('8f'); // DER sign byte dropped
    expect(normalizeSerialHex('00')).toBe('00');
  });

  it('refuses non-hex and over-long serials', () => {
    expect(() => normalizeSerialHex('xyz')).toThrow(/hexadecimal/);
    expect(() => normalizeSerialHex('')).toThrow(/hexadecimal/);
    expect(() => normalizeSerialHex('01'.repeat(21))).toThrow(/20 bytes/);
  });

  it('round-trips through bigint', () => {
    expect(serialFromBigInt(serialToBigInt('00:0a:ff'))).toBe('0aff');
  });
});

describe('randomSerialHex', () => {
  it('is 16 bytes, positive, minimally encoded and already normalised', () => {
    const serials = Array.from({ length: 200 }, randomSerialHex);
    for (const serial of serials) {
      expect(serial).toMatch(/^[0-7][0-9a-f]{31}$/);
      expect(serial.startsWith('00')).toBe(false);
      expect(normalizeSerialHex(serial)).toBe(serial);
    }
    expect(new Set(serials).size).toBe(serials.length);
  });
});

describe('tryNormalizeSerialHex', () => {
  it('normalises like normalizeSerialHex and answers undefined instead of throwing', () => {
    expect(tryNormalizeSerialHex('00:0A:FF')).toBe('0aff');
    expect(tryNormalizeSerialHex('not a serial')).toBeUndefined();
  });
});
