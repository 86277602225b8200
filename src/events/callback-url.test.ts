import { describe, expect, it } from 'vitest';
import { callbackHost, callbackUrlProblem } from './callback-url.js';

describe('callbackUrlProblem', () => {
  it('accepts an https URL with a host, port, path and query', () => {
    expect(callbackUrlProblem('https://hooks.example.com:8443/mb/status?token=abc')).toBeUndefined();
    expect(callbackUrlProblem('https://[::1]:9000/x')).toBeUndefined();
  });

  it.each([
    ['https://%zz', 'is not a valid URL'],
    ['https://[', 'is not a valid URL'],
    ['https://a:b@[::1', 'is not a valid URL'],
    ['http://hooks.example.com/x', 'must be an https:// URL'],
    ['https://user:secret@hooks.example.com/x', 'must not carry a user name or password'],
    ['https://hooks.example.com/a b', 'must not contain spaces'],
    [`https://hooks.example.com/${'a'.repeat(2048)}`, 'must be at most 2048 characters'],
  ])('refuses %s', (url, problem) => {
    expect(callbackUrlProblem(url)).toContain(problem);
  });
});

describe('callbackHost', () => {
  it('is the host of a URL and never throws', () => {
    expect(callbackHost('https://hooks.example.com:8443/x?token=1')).toBe('hooks.example.com:8443');
    expect(callbackHost('https://%zz')).toBe('https://%zz');
  });
});
