import { createSecretKey, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { hashNumber, maskNumber } from './number-hash.js';

describe('hashNumber', () => {
  const pepper = randomBytes(32);

  it('is stable lowercase hex HMAC-SHA256', () => {
    const hash = hashNumber(pepper, '+12345678901');
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(hashNumber(pepper, '+12345678901')).toBe(hash);
    expect(hashNumber(pepper, '+12345678902')).not.toBe(hash);
  });

  it('is keyed: another pepper gives another hash', () => {
    expect(hashNumber(randomBytes(32), '+12345678901')).not.toBe(hashNumber(pepper, '+12345678901'));
  });

  it('matches a known HMAC-SHA256 vector', () => {
    // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?"
    expect(hashNumber(Buffer.from('Jefe'), 'what do ya want for nothing?')).toBe(
      '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
    );
    expect(hashNumber(createSecretKey(Buffer.from('Jefe')), 'what do ya want for nothing?')).toBe(
      '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
    );
  });

  it('hashes the same under the pepper as a KeyObject (the sealing threads keep one)', () => {
    expect(hashNumber(createSecretKey(pepper), '+12345678901')).toBe(hashNumber(pepper, '+12345678901'));
  });
});

describe('maskNumber', () => {
  it.each([
    ['+12345678901', '+123****8901'],
    ['+123456789012345', '+123********2345'],
    ['+1234567890', '+12*****890'],
    ['+123456789', '+12*****89'],
    ['+12345678', '+12****78'],
    ['+1234567', '+1****67'],
    ['+1234', '+1**4'],
    ['+123', '+**3'],
    ['+12', '+*2'],
    ['+1', '+*'],
  ])('%s → %s', (number, masked) => {
    expect(maskNumber(number)).toBe(masked);
  });

  it('hides at least half the digits of a short number and at least 4 of a long one', () => {
    for (let n = 1; n <= 15; n++) {
      const number = `+${'123456789012345'.slice(0, n)}`;
      const hidden = [...maskNumber(number)].filter((c) => c === '*').length;
      expect(maskNumber(number).length).toBe(n + 1);
      expect(hidden).toBeGreaterThanOrEqual(n >= 11 ? 4 : Math.ceil(n / 2));
    }
  });

  it('masks whole anything that is not E.164', () => {
    expect(maskNumber('12345678901')).toBe('***');
    expect(maskNumber('+1 234 567 8901')).toBe('***');
    expect(maskNumber('')).toBe('***');
  });
});
