import { describe, expect, it } from 'vitest';
import type { BrokerError } from '../errors.js';
import { assertClientName, clientNameProblem } from './client-name.js';

describe('client names', () => {
  it('takes a name whose CN (name.domain) fits in 64 characters', () => {
    expect(clientNameProblem('alice', 'acme')).toBeUndefined();
    expect(clientNameProblem('a'.repeat(59), 'acme')).toBeUndefined();
    expect(clientNameProblem('a'.repeat(64), 'x')).toMatch(/66 characters.*at most 62/);
  });

  it('refuses a malformed name, a CN past 64 characters and a domain that leaves no room, as INVALID_PAYLOAD', () => {
    for (const name of ['', 'Bob', 'bob.x', 'bob,o=evil', 'bøb', '-bob', 'b'.repeat(65)])
      expect(clientNameProblem(name, 'acme')).toMatch(/lowercase letters/);
    expect(clientNameProblem('a'.repeat(60), 'acme')).toMatch(/65 characters.*at most 59/);
    expect(clientNameProblem('a', 'd'.repeat(63))).toMatch(/too long for any client/);
    expect(() => assertClientName('a'.repeat(64), 'acme')).toThrow(
      expect.objectContaining({ code: 'INVALID_PAYLOAD' }) as BrokerError,
    );
  });
});
