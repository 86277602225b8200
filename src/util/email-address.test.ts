import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config/config.js';
import { isEmailAddress } from './email-address.js';

describe('isEmailAddress', () => {
  it('takes plain and international addresses', () => {
    for (const email of ['ops@example.test', 'admin@localhost', 'jürgen@bücher.example', 'a+tag@x.y'])
      expect(isEmailAddress(email), email).toBe(true);
  });

  it('refuses control and format characters (ESC, BEL, NUL, DEL, C1, bidi overrides, zero-width)', () => {
    for (const email of [
      'a\u001b[31m@example.test',
      'bell\u0007@example.test',
      'nul\u0000@example.test',
      'del\u007f@example.test',
      'c1\u009b@example.test',
      'evil\u202emoc.test@example.test',
      'ops@exa\u2066mple.test',
      'z\u200dw@example.test',
      'bom\ufeff@example.test',
      'lone\ud800@example.test',
    ])
      expect(isEmailAddress(email), JSON.stringify(email)).toBe(false);
  });

  it('refuses them in portal.first_admin_email too', () => {
    expect(() => loadConfig({ values: { portal: { first_admin_email: 'root\u202e@example.test' } }, env: {} })).toThrow(
      /portal\.first_admin_email/,
    );
  });
});
