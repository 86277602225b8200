import { describe, expect, it } from 'vitest';
import {
  DEFAULT_LOG_N,
  PasswordHasher,
  generatePassword,
  parseHash,
  passwordProblem,
  pFor,
} from './password-hasher.js';

describe('PasswordHasher', () => {
  it('hashes at OWASP scrypt parameters of 32 MiB by default (N=2^15, r=8, p=3) and verifies', async () => {
    const hasher = new PasswordHasher();
    const hash = await hasher.hash('correct horse battery staple');
    expect(hash).toMatch(/^\$scrypt\$ln=15,r=8,p=3\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    expect(DEFAULT_LOG_N).toBe(15);
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

  it('pairs each N with OWASP’s p, and replaces a hash that is weaker or needs more memory than the setting', async () => {
    expect([17, 16, 15, 14, 13].map(pFor)).toEqual([1, 2, 3, 5, 10]);
    expect(pFor(12)).toBe(1);
    expect(await new PasswordHasher(14).hash('same password!')).toMatch(/^\$scrypt\$ln=14,r=8,p=5\$/);
    expect(await new PasswordHasher(14, 1).hash('same password!')).toMatch(/^\$scrypt\$ln=14,r=8,p=1\$/);
    const salt = 'AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
    const hasher = new PasswordHasher(15);
    // 128 MiB to verify (the default before): replaced, so sign-ins stop costing 128 MiB.
    expect(hasher.needsRehash(`$scrypt$ln=17,r=8,p=1$${salt}`)).toBe(true);
    expect(hasher.needsRehash(`$scrypt$ln=16,r=8,p=2$${salt}`)).toBe(true);
    // Less work than the setting: replaced; the setting itself and more work in the same memory: kept.
    expect(hasher.needsRehash(`$scrypt$ln=15,r=8,p=1$${salt}`)).toBe(true);
    expect(hasher.needsRehash(`$scrypt$ln=14,r=8,p=5$${salt}`)).toBe(true);
    expect(hasher.needsRehash(`$scrypt$ln=15,r=8,p=3$${salt}`)).toBe(false);
    expect(hasher.needsRehash(`$scrypt$ln=15,r=8,p=4$${salt}`)).toBe(false);
    expect(new PasswordHasher(17).needsRehash(`$scrypt$ln=15,r=8,p=3$${salt}`)).toBe(true);
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
