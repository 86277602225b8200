import { describe, expect, it } from 'vitest';
import { OWASP_LOG_N, PasswordHasher, generatePassword, parseHash, passwordProblem } from './password-hasher.js';

describe('PasswordHasher', () => {
  it('hashes at the OWASP scrypt parameters by default (N=2^17, r=8, p=1) and verifies', async () => {
    const hasher = new PasswordHasher();
    const hash = await hasher.hash('correct horse battery staple');
    expect(hash).toMatch(/^\$scrypt\$ln=17,r=8,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    expect(OWASP_LOG_N).toBe(17);
    expect(await hasher.verify('correct horse battery staple', hash)).toBe(true);
    expect(await hasher.verify('correct horse battery stapl', hash)).toBe(false);
    expect(hasher.needsRehash(hash)).toBe(false);
  });

  it('salts every hash and reads the cost from the hash, so a cost change keeps old hashes valid', async () => {
    const cheap = new PasswordHasher(10);
    const a = await cheap.hash('same password!');
    const b = await cheap.hash('same password!');
    expect(a).not.toBe(b);
    const strong = new PasswordHasher(12);
    expect(await strong.verify('same password!', a)).toBe(true);
    expect(strong.needsRehash(a)).toBe(true);
  });

  it('normalizes Unicode, so the same password typed on another keyboard still matches', async () => {
    const hasher = new PasswordHasher(10);
    const hash = await hasher.hash('caf\u00e9 au lait 123');
    expect(await hasher.verify('cafe\u0301 au lait 123', hash)).toBe(true);
  });

  it('refuses garbage and hostile parameters instead of throwing or burning CPU', async () => {
    const hasher = new PasswordHasher(10);
    expect(await hasher.verify('x', 'not a hash')).toBe(false);
    expect(await hasher.verify('x', '')).toBe(false);
    expect(
      parseHash('$scrypt$ln=30,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'),
    ).toBeUndefined();
    expect(await hasher.verifyNothing('anything')).toBe(false);
  });

  it('keeps a sibling hash’s salt, so one derivation checks every account of an email', async () => {
    const hasher = new PasswordHasher(10);
    const first = await hasher.hash('first password!');
    const second = await hasher.hash('second password', first);
    expect(parseHash(second)!.salt).toEqual(parseHash(first)!.salt);
    expect(await hasher.hash('same password!', 'not a hash')).toMatch(/^\$scrypt\$ln=10,/);
    const derivations: unknown[] = [];
    const spy = hasher as unknown as { derive: (...args: unknown[]) => Promise<Buffer> };
    const derive = spy.derive.bind(hasher);
    spy.derive = (...args: unknown[]) => {
      derivations.push(args);
      return derive(...args);
    };
    expect(await hasher.verifyEach('second password', [first, second, 'garbage'])).toEqual([false, true, false]);
    expect(derivations).toHaveLength(1);
    const other = await hasher.hash('second password');
    expect(await hasher.verifyEach('second password', [first, other])).toEqual([false, true]);
    expect(derivations).toHaveLength(4); // the hash of `other`, then one derivation per salt
  });

  it('generates readable random passwords and states the password rule', () => {
    const passwords = new Set(Array.from({ length: 50 }, () => generatePassword()));
    expect(passwords.size).toBe(50);
    for (const p of passwords) expect(p).toMatch(/^[A-HJ-NP-Za-km-np-z2-9]{20}$/);
    expect(passwordProblem('short')).toMatch(/12/);
    expect(passwordProblem('long enough password')).toBeUndefined();
    expect(passwordProblem('x'.repeat(257))).toMatch(/256/);
  });
});
