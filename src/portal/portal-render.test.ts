import type { FastifyRequest } from 'fastify';
import { describe, expect, it } from 'vitest';
import { toBrokerError } from '../http/error-handler.js';
import { noticeOf, viewHelpers } from './portal-render.js';

const INHERITED = ['constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf'];
const requestWith = (notice: string) => ({ query: { notice } }) as unknown as FastifyRequest;

describe('lookups by a key from outside', () => {
  it('takes a notice from the fixed list only, never an inherited property', () => {
    expect(noticeOf(requestWith('signed-out'))).toBe('You are signed out.');
    for (const key of INHERITED) expect(noticeOf(requestWith(key)), key).toBeUndefined();
  });

  it('gives an unknown or inherited status the neutral badge', () => {
    expect(viewHelpers.statusClass('delivered')).not.toBe('text-bg-secondary');
    for (const key of INHERITED) expect(viewHelpers.statusClass(key), key).toBe('text-bg-secondary');
  });

  it('maps an error code named like an inherited property to nothing special', () => {
    for (const code of INHERITED) {
      const error = Object.assign(new Error('x'), { code, statusCode: 500 });
      expect(toBrokerError(error).code, code).toBe('INTERNAL_ERROR');
    }
  });
});

describe('preview', () => {
  it('cuts a long text with an ellipsis, never between the two halves of an emoji', () => {
    expect(viewHelpers.preview('short', 200)).toBe('short');
    expect(viewHelpers.preview('abcdef', 3)).toBe('abc…');
    expect(viewHelpers.preview('ab\u{1F600}z', 3)).toBe('ab…');
    expect(viewHelpers.preview('ab\u{1F600}z', 4)).toBe('ab\u{1F600}…');
  });
});
