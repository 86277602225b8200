import { describe, expect, it } from 'vitest';
import { describeSecret, secretMismatches } from './secret-mismatch.js';

const recorded = [
  { kind: 'key' as const, secret_id: 'k1', fingerprint: 'aa' },
  { kind: 'pepper' as const, secret_id: 'p1', fingerprint: 'bb' },
  { kind: 'ca' as const, secret_id: 'ca', fingerprint: 'cc' },
];

describe('secretMismatches', () => {
  it('names each instance and what it holds that differs, by id only', () => {
    const mismatches = secretMismatches(
      [
        { instance_id: 'a', host: 'h1', secrets: recorded },
        {
          instance_id: 'b',
          host: 'h2',
          secrets: [
            { kind: 'key', secret_id: 'k1', fingerprint: 'zz' },
            { kind: 'pepper', secret_id: 'p1', fingerprint: 'bb' },
            { kind: 'ca', secret_id: 'ca', fingerprint: 'yy' },
          ],
        },
      ],
      recorded,
    );
    expect(mismatches).toEqual([{ instance_id: 'b', host: 'h2', secrets: ['data key k1', 'the CA'] }]);
    expect(JSON.stringify(mismatches)).not.toMatch(/zz|yy/);
  });

  it('ignores ids the database does not know yet and instances that announce nothing', () => {
    expect(
      secretMismatches(
        [
          { instance_id: 'a', host: 'h1', secrets: [{ kind: 'key', secret_id: 'k2', fingerprint: 'new' }] },
          { instance_id: 'old', host: 'h3' },
        ],
        recorded,
      ),
    ).toEqual([]);
  });

  it('describes secrets the way the start-up error does', () => {
    expect(describeSecret({ kind: 'pepper', secret_id: 'p2' })).toBe('pepper p2');
  });
});
